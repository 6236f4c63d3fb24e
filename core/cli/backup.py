"""Backups of SQLite databases, taken while the server runs.

SQLite's online backup API copies a consistent snapshot page by page while other
connections keep reading and writing (WAL mode, which Tortoise turns on). The
result is an ordinary SQLite file. PostgreSQL has pg_dump/pg_restore for this;
docs/deployment.md gives the procedure.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..config import is_sqlite, sqlite_file
from ..errors import ConfigError

REQUIRED_TABLES = {"kehu_customer", "kehu_interaction", "kehu_account_owner"}


def sqlite_path(database_url: str) -> Path:
    if not is_sqlite(database_url):
        raise ConfigError(
            "kehu.database_url: backup and restore work on SQLite; for PostgreSQL use "
            "pg_dump/pg_restore (see docs/deployment.md)"
        )
    path = sqlite_file(database_url)
    if path is None:
        raise ConfigError("kehu.database_url: an in-memory database cannot be backed up")
    return Path(path)


def _check_database(path: Path, what: str) -> int:
    """Integrity-check a SQLite file; returns its number of tables."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a usable SQLite database ({exc})") from None
    if result != "ok":
        raise ConfigError(f"{path}: {what} failed SQLite's integrity check: {result}")
    missing = REQUIRED_TABLES - tables
    if missing:
        raise ConfigError(f"{path}: {what} is not a kehu database (missing {', '.join(sorted(missing))})")
    return len(tables)


def backup(database_url: str, target: Path) -> int:
    """Copy a consistent snapshot of the live database to ``target``; returns the
    number of tables. Refuses to overwrite an existing file."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise ConfigError(f"{source}: database file not found")
    if target.exists():
        raise ConfigError(f"{target}: exists; choose a new file name")
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=1024)  # in steps, so writers are not held up for long
        dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)
    return _check_database(target, "the backup")


def restore(database_url: str, source: Path) -> int:
    """Replace the database's content with the backup in ``source``. Stop the
    server first: connections open during a restore would see the switch."""
    if not source.exists():
        raise ConfigError(f"{source}: backup file not found")
    tables = _check_database(source, "the backup")
    target = sqlite_path(database_url)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return tables
