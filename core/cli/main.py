"""The ``kehu`` command.

Every command reads ./plugins.toml unless ``--config FILE`` or ``KEHU_CONFIG``
names another. Configuration mistakes print one line (``kehu: error: …``) and exit
with status 2 — never a traceback. ``--debug`` (or ``KEHU_DEBUG=1``) shows full
tracebacks for unexpected failures.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import inspect
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import DEFAULT_CONFIG_FILE, config_path, load_config
from ..errors import KehuError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


def fail(message: str, status: int = 2) -> int:
    print(f"kehu: error: {message}", file=sys.stderr)
    return status


def build_kehu(args: argparse.Namespace):
    from ..server.runtime import Kehu

    return Kehu(load_config(args.config))


async def with_database(kehu, fn: Callable[..., Any], *args: Any, migrate: bool = False, check: bool = True) -> Any:
    """Run ``fn`` with the database connected and plugins started."""
    await kehu.connect(migrate=migrate, check=check)
    try:
        await kehu.hooks.lifecycle("kehu_startup", kehu, strict=True)
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result
    finally:
        await kehu.stop()


class Progress:
    """A progress bar on a terminal (rows, rate, share of the file, time left);
    silent when stderr is not a terminal, so logs and pipes stay clean."""

    WIDTH = 28

    def __init__(self, label: str, stream=sys.stderr):
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, fraction: float | None = None) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.1:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        text = f"{self.label}: {done:,} rows ({rate:,.0f}/s)"
        if fraction is not None and 0 < fraction <= 1:
            filled = int(self.WIDTH * fraction)
            left = elapsed * (1 - fraction) / fraction
            bar = "█" * filled + "░" * (self.WIDTH - filled)
            text = f"{self.label} {bar} {fraction:4.0%}  {done:,} rows ({rate:,.0f}/s, {left:,.0f}s left)"
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()

    def close(self, done: int) -> None:
        if self.enabled:
            self.stream.write(f"\r{self.label}: {done:,} rows in {time.monotonic() - self.started:.1f}s\x1b[K\n")


# --------------------------------------------------------------------------- commands


INIT_TEMPLATE = """\
# kehu configuration — written by `kehu init`. Every kehu command reads this file
# (or the one named by --config / KEHU_CONFIG).

[kehu]
# SQLite file by default; postgres://user:password@host:5432/db in production.
# KEHU_DATABASE_URL overrides it.
database_url = "{database_url}"
graphiql = true                  # the GraphQL IDE at /graphql
anonymous_introspection = false  # schema introspection for signed-in users only

[auth]
session_hours = 12               # lifetime of a sign-in token
max_failed_logins = 10           # failed sign-ins before a lock
lockout_minutes = 15

[plugins]
# Built-in: {builtins}. Third-party plugins by entry-point name.
# To change what is enabled: edit this list, then run `kehu migrate`.
enabled = {enabled}

# [plugins.loyalty]
# points_per_unit = 1

# [roles]                        # extra permissions for roles
# AGENT = ["loyalty.award"]
"""


def plugin_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (duplicates and blanks dropped, order kept)."""
    return list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def _choose_plugins(args: argparse.Namespace, installed: list[str]) -> list[str]:
    """The plugins a new configuration enables: ``--plugins``, else asked on a terminal."""
    if args.plugins is not None:
        return plugin_names(args.plugins)
    if not sys.stdin.isatty():
        return []
    answer = input(f"Plugins to enable, comma-separated ({', '.join(installed) or 'none installed'}; Enter for none): ")
    return plugin_names(answer)


def cmd_init(args: argparse.Namespace) -> int:
    from ..server.plugin_manager import BUILTIN_PLUGINS, builtin_available, discover

    path = config_path(args.config)
    installed = sorted(discover())
    if args.plugins is not None:
        unknown = [name for name in plugin_names(args.plugins) if name not in installed]
        if unknown:
            return fail(f"--plugins: unknown plugin '{unknown[0]}' (installed: {', '.join(installed) or 'none'})")
    if path.exists() and not args.force:
        print(f"{path} exists; keeping it (use --force to overwrite)")
        if args.plugins is not None and set(plugin_names(args.plugins)) != set(load_config(path).enabled):
            return fail(
                f"--plugins: {path} exists and enables {', '.join(load_config(path).enabled) or 'no plugins'}; "
                "edit its [plugins] enabled list, or run again with --force to write a new file"
            )
    else:
        enabled = _choose_plugins(args, installed)
        unknown = [name for name in enabled if name not in installed]
        if unknown:
            return fail(f"unknown plugin '{unknown[0]}' (installed: {', '.join(installed) or 'none'})")
        builtins = ", ".join(n for n in BUILTIN_PLUGINS if builtin_available(n)) or "none"
        text = INIT_TEMPLATE.format(database_url=args.database_url, builtins=builtins, enabled=json.dumps(enabled))
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    email = args.admin_email or os.environ.get("KEHU_ADMIN_EMAIL")
    password = args.admin_password or os.environ.get("KEHU_ADMIN_PASSWORD")
    kehu = build_kehu(argparse.Namespace(config=str(path)))
    enabled = list(kehu.config.enabled)
    if enabled:
        print(f"plugins enabled: {', '.join(enabled)}")
    else:
        print(f"no plugins enabled (installed: {', '.join(installed) or 'none'})")
    print(f"  to change that: edit `enabled` under [plugins] in {path}, then run `kehu migrate`")

    async def create_admin():
        from ..models import AccountOwner, Role
        from ..owners import create_account_owner
        from ..writes import write_scope

        if await AccountOwner.filter(role=Role.ADMIN, is_service=False).exists():
            print("an admin account exists already; not creating another")
            return 0
        nonlocal email, password
        if not email:
            if not sys.stdin.isatty():
                return fail(
                    "no admin account: pass --admin-email/--admin-password or set KEHU_ADMIN_EMAIL/KEHU_ADMIN_PASSWORD"
                )
            email = input("Admin e-mail: ").strip()
        if not password:
            if not sys.stdin.isatty():
                return fail("no admin password: pass --admin-password or set KEHU_ADMIN_PASSWORD")
            password = getpass.getpass("Admin password (10+ characters): ")
            if getpass.getpass("Repeat: ") != password:
                return fail("the passwords differ")
        try:
            async with write_scope(kehu, None, "createAccountOwner", actor_label="kehu init"):
                await create_account_owner(
                    None, {"name": "Administrator", "email": email, "role": Role.ADMIN, "password": password}
                )
        except KehuError as exc:
            option = {"email": "--admin-email", "password": "--admin-password"}.get(exc.field or "", "admin")
            return fail(f"{option}: {exc.message}")
        print(f"created admin {email}")
        return 0

    async def run():
        # Migrate first: a plugin's start-up (masking's key check, a scheduler) reads
        # tables that a fresh database does not have yet.
        await kehu.connect(check=False)
        try:
            applied = await kehu.migrate()
        finally:
            await kehu.disconnect()
        print(f"database ready ({len(applied)} migration(s) applied)")
        return await with_database(kehu, create_admin)

    return asyncio.run(run())


def cmd_migrate(args: argparse.Namespace) -> int:
    kehu = build_kehu(args)

    def progress(event: str, app: str, name: str) -> None:
        if event == "apply_done":
            print(f"  applied {app}.{name}")

    async def run():
        applied = await kehu.migrate(progress)
        print(f"{len(applied)} migration(s) applied" if applied else "database is up to date")
        return 0

    async def main():
        await kehu.connect(check=False)
        try:
            return await run()
        finally:
            await kehu.disconnect()

    return asyncio.run(main())


DEMO_WARNING = """
!!! WARNING: demo accounts can sign in with their PUBLIC passwords: {accounts}
!!! Anyone who has read kehu's README can sign in to this server. Do not serve real
!!! data from it: deactivate those accounts or change their passwords first.
"""


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..config import is_sqlite

    kehu = build_kehu(args)  # fails fast on plugin and settings errors
    if args.workers > 1 and is_sqlite(kehu.config.kehu.database_url):
        return fail(
            f"--workers {args.workers}: SQLite is served by one process (one writer at a time; live events"
            " reach only the worker that made them); use PostgreSQL for several workers"
        )
    _ = kehu.schema  # and on schema conflicts

    async def check():
        from .demo import open_demo_accounts

        await kehu.connect(migrate=args.migrate)
        try:
            return await open_demo_accounts()
        finally:
            await kehu.disconnect()

    demo_accounts = asyncio.run(check())
    if demo_accounts:
        print(DEMO_WARNING.format(accounts=", ".join(demo_accounts)), file=sys.stderr)
    host, port = args.host, args.port
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(
        f"kehu {__version__} on http://{shown}:{port}/graphql"
        + (" (GraphiQL in the browser)" if kehu.config.kehu.graphiql else "")
    )
    print("sign in with the `login` mutation; send the token as `Authorization: Bearer <token>`")
    for record in kehu.plugins.records.values():
        for path, title in (record.info.get("pages") or {}).items():
            print(f"{title}: http://{shown}:{port}{path}")
    if args.workers > 1 or args.reload:
        os.environ["KEHU_CONFIG"] = str(config_path(args.config))
        if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # /metrics adds up every worker's counters (prometheus_client's
            # multi-process mode); a fresh directory per run starts them at zero.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kehu-metrics-")
        uvicorn.run(
            "kehu.server.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            reload=args.reload,
            log_level=args.log_level,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    else:
        from ..server.app import create_app

        uvicorn.run(
            create_app(kehu),
            host=host,
            port=port,
            log_level=args.log_level,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..server.plugin_manager import discover

    kehu = build_kehu(args)
    rows = [("NAME", "VERSION", "SOURCE", "STATE", "HOOKS")]
    for name, (source, _, version) in sorted(discover().items()):
        record = kehu.plugins.records.get(name)
        hooks = ", ".join(h.removeprefix("kehu_") for h in record.hooks) if record else "-"
        rows.append((name, version, source, "enabled" if record else "installed", hooks))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0


def cmd_plugins_uninstall(args: argparse.Namespace) -> int:
    """Show what uninstalling a plugin's data would drop; drop it only with --yes."""
    from .uninstall import drop_plugin_data, plugin_data

    kehu = build_kehu(args)
    name = args.name
    if kehu.is_enabled(name):
        return fail(f"plugin '{name}' is enabled: remove it from plugins.enabled first (disabling keeps its data)")

    async def run():
        async with plugin_data(kehu, name) as data:
            if data.empty:
                print(f"plugin '{name}' has no tables or migrations in this database; nothing to drop")
                return 0
            print(f"uninstalling plugin '{name}' drops:")
            for table, rows in data.tables:
                print(f"  table {table}: {rows:,} row(s)" if rows is not None else f"  table {table}: (not present)")
            print(
                f"  its {len(data.migrations)} applied migration(s) ({', '.join(data.migrations) or 'none'}), "
                "so enabling it again re-creates its tables"
            )
            if not args.yes:
                print("nothing dropped: run again with --yes to drop these tables and all their data")
                return 1
            await drop_plugin_data(data)
            dropped = sum(1 for _, rows in data.tables if rows is not None)
            print(f"dropped {dropped} table(s) of plugin '{name}'; now `pip uninstall` its package")
            return 0

    return asyncio.run(run())


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import create_plugin, names

    purpose = args.purpose
    if purpose is None and sys.stdin.isatty():
        purpose = input("What is the plugin for, in one line (e.g. 'Sales opportunities per customer')? ")
    target = create_plugin(args.name, args.directory, purpose=purpose, entity=args.entity)
    values = names(args.name, purpose, args.entity)
    print(f"wrote {target}/ (package {values['package']}, plugin '{args.name}': {values['purpose']})")
    print(
        f"  it keeps {values['entities_words']} per customer ({values['Entity']}): rename and add fields in "
        "models.py, then `kehu makemigrations`"
    )
    print("next:")
    print(f"  pip install -e '{target}[test]'")
    print(f"  (cd {target} && python -m pytest)")
    print(f'  then add "{args.name}" to plugins.enabled in plugins.toml and run `kehu migrate`')
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the SDL; or, for frontend tooling (kehu.cli.frontend): compare with an
    older SDL (exit 1 on breaking changes), print Apollo's possibleTypes, or
    validate a project's GraphQL documents (exit 1 on any problem)."""
    from ..server.documents import document_files
    from . import frontend

    kehu = build_kehu(args)
    schema = kehu.schema.graphql_schema
    if args.check:
        path = Path(args.check)
        if not path.is_file():
            return fail(f"{path}: no such file")
        breaking, dangerous = frontend.schema_changes(path.read_text(encoding="utf-8"), schema, str(path))
        for line in breaking:
            print(f"breaking   {line}")
        for line in dangerous:
            print(f"dangerous  {line}")
        print(f"{len(breaking)} breaking, {len(dangerous)} dangerous change(s) against {path}")
        return 1 if breaking else 0
    if args.possible_types:
        print(json.dumps(frontend.possible_types(schema), indent=2, sort_keys=True))
        return 0
    if args.validate:
        files = document_files(args.validate)
        problems = frontend.validate_project(schema, files)
        for line in problems:
            print(line)
        print(f"{len(files)} file(s): " + (f"{len(problems)} problem(s)" if problems else "valid"))
        return 1 if problems else 0
    sys.stdout.write(kehu.schema.as_str() + "\n")
    return 0


def cmd_documents_add(args: argparse.Namespace) -> int:
    """Register trusted documents: .graphql/.gql files, directories of them, or a
    JSON manifest. Each must be valid against the schema of the enabled plugins."""
    from ..server.documents import check_against_schema, collect, register

    kehu = build_kehu(args)
    candidates = collect(args.paths)
    check_against_schema(kehu, candidates)

    async def run():
        added, existing = await register(kehu, candidates)
        print(f"{added} document(s) registered, {existing} already registered")
        if not kehu.config.documents.trusted_only:
            print("note: [documents] trusted_only is off, so the server still runs any operation")
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_documents_list(args: argparse.Namespace) -> int:
    from ..models import TrustedDocument
    from ..server.documents import document_hash, operation_names, plugin_documents

    kehu = build_kehu(args)

    async def run():
        rows = [
            (f"sha256:{d.sha256}", d.operations or "-", d.source) for d in await TrustedDocument.all().order_by("id")
        ]
        rows += [
            (f"sha256:{document_hash(text)}", " ".join(operation_names(text)) or "-", f"plugin:{plugin}")
            for plugin, text in plugin_documents(kehu)
        ]
        mode = "on" if kehu.config.documents.trusted_only else "off"
        print(f"{len(rows)} trusted document(s); trusted_only is {mode}")
        for row in rows:
            print("  ".join(row))
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_import(args: argparse.Namespace) -> int:
    from .history import import_interactions
    from .sources import parse_column_map
    from .transfer import BATCH_SIZE, import_customers

    path = Path(args.file)
    if not path.exists():
        return fail(f"{path}: no such file")
    kehu = build_kehu(args)
    progress = Progress(f"importing {args.what}")
    options = dict(
        extra_columns=args.extra_columns,
        encoding=args.encoding,
        delimiter=args.delimiter,
        columns=parse_column_map(args.column or []),
        events=args.events,
        batch_size=args.batch_size or BATCH_SIZE,
    )

    async def run():
        from ..models import AccountOwner

        actor = "kehu"
        if args.actor:
            actor = await AccountOwner.filter(email__iexact=args.actor.strip(), active=True).first()
            if actor is None:
                return fail(f"--as {args.actor}: no active account owner has this e-mail")
        if args.what == "customers":
            report = await import_customers(
                kehu,
                path,
                on_conflict=args.on_conflict,
                ids=bool(args.ids),
                actor=actor,
                progress=progress,
                allow_duplicates=args.allow_duplicates,
                **options,
            )
        else:
            report = await import_interactions(kehu, path, actor=actor, progress=progress, **options)
        progress.close(report.rows)
        noun = "customer" if args.what == "customers" else "interaction"
        print(
            f"{report.rows:,} row(s) read ({report.encoding or 'xlsx'}) in {report.seconds:.1f}s: "
            f"{report.created:,} {noun}(s) created, {report.updated:,} updated, {report.unchanged:,} unchanged, "
            f"{report.skipped:,} skipped, {report.rejected:,} rejected"
        )
        if report.interactions is not None:
            nested = report.interactions
            print(f"  their interactions: {nested.created:,} created, {nested.unchanged:,} unchanged")
        if report.plugin_seconds:
            print(f"  plugins brought their data up to date in {report.plugin_seconds:.1f}s of that")
        if getattr(args, "ids", None) and report.ids is not None:
            report.write_ids(Path(args.ids))
            print(f"ids: {args.ids}")
        if getattr(report, "duplicates", None):
            duplicates_path = Path(f"{path}.duplicates.csv")
            report.write_duplicates(duplicates_path)
            print(f"{len(report.duplicates):,} row(s) had an existing customer's e-mail or phone: {duplicates_path}")
        if report.errors:
            report_path = Path(args.errors or f"{path}.errors.csv")
            report.write_errors(report_path)
            for line, field, message, code in sorted(report.errors)[:10]:
                print(f"  line {line}: {field or 'row'}: {message} [{code}]", file=sys.stderr)
            if len(report.errors) > 10:
                print(f"  … {len(report.errors) - 10:,} more", file=sys.stderr)
            print(f"error report: {report_path}")
            return 1
        return 0

    return asyncio.run(with_database(kehu, run))


IMPORT_EPILOG = """\
files:
  .csv / .tsv / .txt  a header row, then one row per record; the delimiter (comma,
                      tab, semicolon) is read from the header. Encodings: UTF-8
                      (with or without BOM), UTF-16 (Excel's "Unicode text"),
                      GB18030/GBK (Excel on Chinese Windows) and others, detected;
                      --encoding overrides.
  .xlsx               the first sheet; its first non-empty row is the header.
  .jsonl              one JSON object per line (keys as the columns).
  Column names are matched loosely ("Customer Name", "customerName" and
  "customer_name" are the same); --column renames ("--column 姓名=name").
  Times without an offset are in [kehu] timezone; a date alone is its midnight.
  A bad row is reported with its line and a code and nothing of it is written;
  the other rows are imported. See docs/import.md.
"""

CUSTOMER_COLUMNS_HELP = """\
columns (only name is required):
  id            kehu's id (from an export): matches an existing customer
  external_id   the id your other system knows the customer by: matches or creates
  name kind email phone address region industry
  tags          separated by ; or |  (a list in JSON Lines)
  owner_email   an active account owner
  attributes    a JSON object
  created_at    "customer since" (default: now)
JSON Lines only: "interactions": [{...}, ...] with the columns of
`kehu import interactions` (without the customer columns).

A row that names an existing customer (by external_id, else id) and equals it
changes nothing; one that differs follows --on-conflict. So does a row that names
none but has an existing customer's e-mail or phone number (any case, any format):
rejected as DUPLICATE_CUSTOMER, skipped, or an update of that customer; those rows
are listed in FILE.duplicates.csv. --allow-duplicates creates them instead.
"""

INTERACTION_COLUMNS_HELP = """\
columns (kind and occurred_at required, and one customer column):
  customer_external_id | customer_id | customer_email   the customer
  external_id       the record's id in your system (an order number): a row
                    imported before is not written again
  kind              PURCHASE CALL VISIT EMAIL MEETING MESSAGE NOTE (or 购买 电话 …)
  occurred_at       when it happened
  amount            PURCHASE only, required there: 1234.50
  direction         INBOUND OUTBOUND INTERNAL (default OUTBOUND)
  subject notes next_follow_up_at
  owner_email       who handled it (any account owner, active or not)

Plugins then bring their data up to date once, as of each record's date
(loyalty points dated at each purchase, the loaded customers re-scored once).
"""


def cmd_dedupe_scan(args: argparse.Namespace) -> int:
    from ..duplicates import scan

    if not 1 <= args.min_score <= 100:
        return fail("--min-score: must be between 1 and 100")
    kehu = build_kehu(args)
    progress = Progress("reading customers")

    async def run():
        report = await scan(kehu, min_score=args.min_score, dry_run=args.dry_run, progress=lambda _, n: progress(n))
        progress.close(report.customers)
        print(("dry run: " if args.dry_run else "") + report.summary())
        if report.skipped_blocks:
            print(f"  {report.skipped_blocks:,} blocking key(s) shared by too many customers were not compared")
        if args.output:
            from .. import csvsafe
            from ..ids import to_global_id

            with open(args.output, "w", encoding="utf-8", newline="") as out:
                writer = csvsafe.writer(out, lineterminator="\n")
                writer.writerow(("customer_a", "customer_b", "score", "reasons"))
                for pair in report.pairs:
                    writer.writerow(
                        (
                            to_global_id("Customer", pair.a),
                            to_global_id("Customer", pair.b),
                            pair.score,
                            ";".join(pair.reasons),
                        )
                    )
            print(f"pairs: {args.output}")
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_dedupe_rekey(args: argparse.Namespace) -> int:
    from ..duplicates import rekey

    kehu = build_kehu(args)

    async def run():
        done = await rekey(kehu)
        print(f"{done:,} customer(s) given new keys")
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_export(args: argparse.Namespace) -> int:
    from .transfer import export_customers

    kehu = build_kehu(args)
    progress = Progress("exporting")

    async def run():
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                n = await export_customers(kehu, out, format=args.format, progress=progress)
        else:
            n = await export_customers(kehu, sys.stdout, format=args.format, progress=progress)
        progress.close(n)
        print(f"exported {n:,} customer(s)", file=sys.stderr)
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import seed_demo

    kehu = build_kehu(args)

    async def run():
        credentials = await seed_demo(kehu, customers=args.customers, force=args.force)
        print("demo data ready. Sign in (mutation login) with — demo only:")
        for role, (email, password) in credentials.items():
            print(f"  {role:<8} {email:<28} {password}")
        return 0

    return asyncio.run(with_database(kehu, run, migrate=True))


def cmd_backup(args: argparse.Namespace) -> int:
    from .backup import backup

    config = load_config(args.config)
    tables = backup(config.kehu.database_url, Path(args.file))
    print(f"backed up {tables} tables to {args.file}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from .backup import restore

    config = load_config(args.config)
    if not args.yes:
        if not sys.stdin.isatty():
            return fail("restore replaces the whole database: stop the server, then run again with --yes")
        if input(f"Replace {config.kehu.database_url} with {args.file}? Stop the server first. [y/N] ").lower() != "y":
            return fail("not restored", 1)
    tables = restore(config.kehu.database_url, Path(args.file))
    print(f"restored {tables} tables from {args.file}; run `kehu migrate` if the backup is older than this kehu")
    return 0


def _event_line(row) -> str:
    when = (row.finished_at or row.due_at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    what = row.topic or row.name
    error = row.last_error.splitlines()[0][:100] if row.last_error else ""
    return f"{row.id:>8}  {row.state.value:<7}  {what:<36}  {row.attempts:>3}  {when}  {error}"


def cmd_events_list(args: argparse.Namespace) -> int:
    from ..models import OutboxState

    kehu = build_kehu(args)
    state = OutboxState("FAILED" if args.events_command == "failed" else args.state)

    async def run():
        rows = await kehu.outbox.listing(state, args.limit)
        depth = await kehu.outbox.depth()
        print(f"{depth['PENDING']} pending, {depth['FAILED']} failed; showing {len(rows)} {state.value.lower()}")
        if rows:
            print(f"{'ID':>8}  {'STATE':<7}  {'EVENT':<36}  {'TRY':>3}  {'WHEN':<19}  LAST ERROR")
        for row in rows:
            print(_event_line(row))
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_events_show(args: argparse.Namespace) -> int:
    from ..models import OutboxEvent

    kehu = build_kehu(args)

    async def run():
        row = await OutboxEvent.get_or_none(id=args.id)
        if row is None:
            return fail(f"no event {args.id}", 1)
        print(_event_line(row))
        print(f"kind: {row.kind.value}  created: {row.created_at.isoformat()}  due: {row.due_at.isoformat()}")
        if row.remaining:
            print(f"handlers still to succeed: {', '.join(row.remaining)}")
        print("arguments: " + json.dumps(row.arguments, ensure_ascii=False, sort_keys=True))
        if row.last_error:
            print("last error: " + row.last_error)
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_events_retry(args: argparse.Namespace) -> int:
    from ..errors import NotFound
    from ..models import OutboxEvent, OutboxState

    kehu = build_kehu(args)

    async def run():
        ids = list(args.ids)
        if args.all_failed:
            ids += await OutboxEvent.filter(state=OutboxState.FAILED).order_by("id").values_list("id", flat=True)
        if not ids:
            return fail("name the events to retry (IDs), or --all-failed")
        status = 0
        for event_id in ids:
            try:
                await kehu.outbox.retry(event_id)
                print(f"event {event_id}: due now (a running server delivers it within [events] poll_seconds)")
            except NotFound:
                print(f"event {event_id}: no failed or pending event with this id", file=sys.stderr)
                status = 1
        return status

    return asyncio.run(with_database(kehu, run))


def cmd_events_deliver(args: argparse.Namespace) -> int:
    kehu = build_kehu(args)

    async def run():
        report = await kehu.outbox.run_once(limit=args.limit)
        print(
            f"{report.delivered} delivered, {report.retrying} to retry later, {report.failed} failed"
            f" ({report.seconds:.1f}s)"
        )
        return 0

    return asyncio.run(with_database(kehu, run))


def cmd_makemigrations(args: argparse.Namespace) -> int:
    """Write migrations for the enabled apps whose models changed (core and plugins).

    All enabled apps are given to Tortoise's autodetector together: only then does
    it see foreign keys across apps and write the ``("core", …)`` dependencies.
    """
    from tortoise.cli.cli import CLIContext, makemigrations

    kehu = build_kehu(args)
    if args.app and args.app not in kehu.apps:
        return fail(f"'{args.app}' is not an enabled app with models (enabled: {', '.join(kehu.apps)})")
    config = {**kehu.tortoise_config, "connections": {"default": "sqlite://:memory:"}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    try:
        asyncio.run(makemigrations(CLIContext(None, handle.name), (), False, args.name))
    finally:
        os.unlink(handle.name)
    return 0


# --------------------------------------------------------------------------- parser


CONFIG_HELP = f"configuration file (default: $KEHU_CONFIG or ./{DEFAULT_CONFIG_FILE}); before or after the command"
DEBUG_HELP = "show tracebacks of unexpected errors (or KEHU_DEBUG=1)"


def build_parser(kehu_for_plugins=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kehu", description="kehu (客户): a plugin-based CRM framework")
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version", version=f"kehu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "init",
        help="write plugins.toml, migrate, create the first admin",
        description="Write a commented plugins.toml (unless one exists), migrate the database, "
        "then start the enabled plugins and create the first admin account.",
    )
    p.add_argument(
        "--database-url",
        default="sqlite://kehu.db",
        help="the database the new plugins.toml names (default: %(default)s; "
        "postgres://user:password@host:5432/db for PostgreSQL; KEHU_DATABASE_URL overrides it)",
    )
    p.add_argument(
        "--plugins",
        metavar="A,B,C",
        help="plugins the new plugins.toml enables, comma-separated (default: asked on a terminal, else none)",
    )
    p.add_argument(
        "--admin-email", metavar="EMAIL", help="the first admin's e-mail (or $KEHU_ADMIN_EMAIL; asked if unset)"
    )
    p.add_argument(
        "--admin-password",
        metavar="PASSWORD",
        help="the first admin's password, 10+ characters (or $KEHU_ADMIN_PASSWORD; asked if unset)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing configuration file")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; 0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default: 1); more than one needs PostgreSQL",
    )
    p.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    p.add_argument("--migrate", action="store_true", help="apply pending migrations before starting")
    p.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="proxies whose X-Forwarded-For is trusted for the client address (uvicorn's option)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: %(default)s)",
    )
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("plugins", help="list installed and enabled plugins (version, source, state, hooks)")
    p.set_defaults(handler=cmd_plugins)
    what = p.add_subparsers(dest="plugins_command", metavar="ACTION")
    q = what.add_parser("uninstall", help="drop a disabled plugin's tables (shows what first; drops only with --yes)")
    q.add_argument("name", help="the plugin's name")
    q.add_argument("--yes", action="store_true", help="really drop the tables and their data")
    q.set_defaults(handler=cmd_plugins_uninstall)

    p = sub.add_parser("new-plugin", help="write a new plugin package (kehu-NAME/) with tests, ready to install")
    p.add_argument("name", metavar="NAME", help="the plugin's name: lower-case letters, digits, '_'")
    p.add_argument("--directory", default=".", help="where to create kehu-NAME/ (default: here)")
    p.add_argument(
        "--purpose",
        metavar="TEXT",
        help="what the plugin is for, one line: its description, docstrings and README (asked on a terminal)",
    )
    p.add_argument(
        "--entity",
        metavar="NAME",
        help="what it keeps per customer, singular (default: NAME without its final s, e.g. deals -> deal)",
    )
    p.set_defaults(handler=cmd_new_plugin)

    p = sub.add_parser("schema", help="print the GraphQL schema (SDL), or check it for frontend tooling")
    tool = p.add_mutually_exclusive_group()
    tool.add_argument("--check", metavar="OLD.graphql", help="report breaking changes against an older SDL (exit 1)")
    tool.add_argument(
        "--possible-types", action="store_true", help="print Apollo Client's possibleTypes (interfaces, unions)"
    )
    tool.add_argument(
        "--validate", nargs="+", metavar="PATH", help="validate .graphql documents (files, directories) as one project"
    )
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("documents", help="trusted documents: the operations a locked-down server runs")
    what = p.add_subparsers(dest="documents_command", metavar="ACTION", required=True)
    q = what.add_parser("add", help="register FILE.graphql, a directory of them, or a JSON manifest")
    q.add_argument("paths", nargs="+", metavar="PATH", help=".graphql/.gql files, directories of them, or manifests")
    q.set_defaults(handler=cmd_documents_add)
    q = what.add_parser("list", help="registered documents and those of enabled plugins")
    q.set_defaults(handler=cmd_documents_list)

    p = sub.add_parser(
        "import",
        help="import customers or their history from CSV, XLSX or JSON Lines",
        description="Import customers, then their history (purchases, calls, …).",
        epilog=IMPORT_EPILOG + "\n" + CUSTOMER_COLUMNS_HELP + "\n" + INTERACTION_COLUMNS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, summary, columns_help in (
        ("customers", "import customers (upserts by external_id or id)", CUSTOMER_COLUMNS_HELP),
        ("interactions", "import interactions: purchases, calls, visits … with their dates", INTERACTION_COLUMNS_HELP),
    ):
        q = what.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=columns_help + "\n" + IMPORT_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        q.add_argument("file", help="a .csv, .tsv, .xlsx or .jsonl file")
        if name == "customers":
            q.add_argument(
                "--on-conflict",
                choices=["error", "skip", "update"],
                default="error",
                help="a row that matches an existing customer but differs from it: reject it (default), "
                "leave the customer as it is, or update it with the row's columns",
            )
            q.add_argument("--ids", metavar="FILE", help="write line,external_id,id,outcome for each row to FILE")
            q.add_argument(
                "--allow-duplicates",
                action="store_true",
                help="create rows whose e-mail or phone an existing customer has (each pair is listed for review "
                "in duplicateCandidates); without it --on-conflict decides for them too",
            )
        q.add_argument(
            "--extra-columns",
            choices=["error", "ignore", "attributes"] if name == "customers" else ["error", "ignore"],
            default="error",
            help="columns kehu does not know: refuse the file (default), ignore them"
            + (", or keep them in the customer's attributes" if name == "customers" else ""),
        )
        q.add_argument("--encoding", help="the file's encoding (default: detected), e.g. utf-8, gb18030, utf-16")
        q.add_argument("--delimiter", help="CSV delimiter (default: read from the header line)")
        q.add_argument(
            "--column",
            action="append",
            metavar="FILE_COLUMN=COLUMN",
            help="read the file's FILE_COLUMN as COLUMN (repeat for several)",
        )
        q.add_argument("--as", dest="actor", metavar="EMAIL", help="the account owner recorded as the importer")
        q.add_argument("--errors", metavar="FILE", help="where to write the rejected rows (default: FILE.errors.csv)")
        q.add_argument(
            "--events",
            action="store_true",
            help="fire the per-record events plugins get from the API (slow; for small files)",
        )
        q.add_argument("--batch-size", type=int, help="rows per transaction (default 10,000)")
        q.set_defaults(handler=cmd_import)

    p = sub.add_parser("export", help="export records")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = what.add_parser("customers", help="export customers as CSV or JSON lines")
    q.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="file format (default: %(default)s)")
    q.add_argument("--output", "-o", help="file to write (default: standard output)")
    q.set_defaults(handler=cmd_export)
    if kehu_for_plugins is not None:
        kehu_for_plugins.plugins.each("kehu_export_commands", subparsers=what)

    p = sub.add_parser(
        "dedupe",
        help="find duplicate customers across the whole base",
        description="Duplicate customers (docs/duplicates.md): candidates are reviewed and merged with "
        "duplicateCandidates and mergeCustomers, or in the console.",
    )
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = what.add_parser(
        "scan",
        help="compare every active customer with the likely ones and store the candidate pairs",
        description="Compares customers that share a blocking key (e-mail, phone or name in pinyin, exactly or "
        "but for one character) and stores each pair scoring --min-score or more as a candidate with its score "
        "and reasons. Pairs dismissed as not duplicates stay dismissed; open pairs an earlier scan found and this one does not are removed.",
    )
    q.add_argument("--min-score", type=int, default=50, help="0-100: the probability in per cent (default 50)")
    q.add_argument("--dry-run", action="store_true", help="report what would be stored, store nothing")
    q.add_argument("--output", "-o", metavar="FILE", help="also write the pairs found as CSV to FILE")
    q.set_defaults(handler=cmd_dedupe_scan)
    q = what.add_parser(
        "rekey",
        help="recompute every customer's normalised e-mail, phone and name keys",
        description="After changing [kehu] phone_region, or which fields the masking plugin encrypts.",
    )
    q.set_defaults(handler=cmd_dedupe_rekey)

    p = sub.add_parser("demo", help="seed a demo data set (owners, customers, interactions)")
    p.add_argument("--customers", type=int, default=300, help="how many customers to create (default: %(default)s)")
    p.add_argument(
        "--force",
        action="store_true",
        help="add the demo accounts (public passwords!) to a database with other accounts",
    )
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("backup", help="copy a consistent snapshot of the (running) SQLite database to FILE")
    p.add_argument("file", help="the backup file to write (must not exist)")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", help="replace the SQLite database with a backup (stop the server first)")
    p.add_argument("file", help="a file written by `kehu backup`")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_restore)

    p = sub.add_parser("events", help="the outbox: events waiting for delivery, failed ones, retries")
    what = p.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    q = what.add_parser("failed", help="events whose handlers failed on every retry (dead letters)")
    q.add_argument("--limit", type=int, default=50, help="at most this many (default: %(default)s)")
    q.set_defaults(handler=cmd_events_list)
    q = what.add_parser("list", help="events in one state, newest first")
    q.add_argument("--state", choices=["PENDING", "FAILED", "DONE"], default="PENDING", help="default: %(default)s")
    q.add_argument("--limit", type=int, default=50, help="at most this many (default: %(default)s)")
    q.set_defaults(handler=cmd_events_list)
    q = what.add_parser("show", help="one event: its arguments and its last error")
    q.add_argument("id", type=int, help="the event's id (as `kehu events list` shows it)")
    q.set_defaults(handler=cmd_events_show)
    q = what.add_parser("retry", help="deliver failed events again, with a fresh set of attempts")
    q.add_argument("ids", type=int, nargs="*", metavar="ID", help="the events to retry")
    q.add_argument("--all-failed", action="store_true", help="every failed event")
    q.set_defaults(handler=cmd_events_retry)
    q = what.add_parser("deliver", help="deliver the events and job runs that are due now, here (no server needed)")
    q.add_argument("--limit", type=int, default=None, help="deliver at most this many (default: all that are due)")
    q.set_defaults(handler=cmd_events_deliver)

    p = sub.add_parser("makemigrations", help="write migrations for enabled apps whose models changed")
    p.add_argument("app", nargs="?", help="check that this app is enabled")
    p.add_argument("--name", help="migration name suffix (default: Tortoise's, e.g. 'initial', 'auto')")
    p.set_defaults(handler=cmd_makemigrations)

    if kehu_for_plugins is not None:
        for _plugin, _ in kehu_for_plugins.plugins.each("kehu_commands", subparsers=sub):
            pass
    _accept_global_options(parser)
    return parser


def _accept_global_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--debug`` after the sub-command too (``kehu init --config
    FILE``), in every sub-command — the plugins' included. ``SUPPRESS`` leaves the
    value given before the sub-command in place when none is given after it."""
    seen: set[int] = set()
    pending = [parser]
    while pending:
        current = pending.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    if id(child) in seen:
                        continue
                    seen.add(id(child))
                    options = {option for a in child._actions for option in a.option_strings}
                    if "--config" not in options:
                        child.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
                    if "--debug" not in options:
                        child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
                    pending.append(child)


def _plugin_kehu(argv: list[str]):
    """Load the configured plugins so their sub-commands exist; configuration errors
    surface later, in the command itself."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    try:
        from ..server.runtime import Kehu

        return Kehu(load_config(known.config))
    except KehuError:
        return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    debug = "--debug" in argv or os.environ.get("KEHU_DEBUG") == "1"
    try:
        kehu = _plugin_kehu(argv)
        parser = build_parser(kehu)
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 0
        if args.handler.__module__ == __name__:
            return int(args.handler(args) or 0)
        # A plugin's command: handler(kehu, args), with the database connected.
        kehu = kehu or build_kehu(args)
        return int(asyncio.run(with_database(kehu, args.handler, kehu, args)) or 0)
    except KehuError as exc:
        return fail(exc.message)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # `kehu export customers | head`: the reader has enough
        sys.stderr.close()
        return 0
    except Exception as exc:  # unexpected: one line, the traceback only on request
        if debug:
            raise
        return fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)", 1)


if __name__ == "__main__":
    sys.exit(main())
