"""GraphiQL served by kehu itself: no CDN, so it works on an offline or intranet
install, and no inline script or style, so it works under a strict
Content-Security-Policy.

``static/graphiql/`` holds GraphiQL's and React's own prebuilt browser builds,
unchanged, as published on the npm registry (``VERSIONS.json`` names each
package, its version, the tarball's integrity hash and the files taken from it;
each package's licence sits beside them), and kehu's page script and style. The
page itself (``page()``) is what ``GET /graphql`` answers a browser with; the
files are served under ``graphiql/`` next to it.

Refreshing the bundle (a maintainer's task; it needs the npm registry)::

    python -m kehu.server.graphiql refresh [--graphiql 3.9.0] [--react 18.3.1]

GraphiQL 3 is the last major version published with a browser (UMD) build, and
React 18 the last with one of its own; both are what strawberry's CDN page loads.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static" / "graphiql"
REGISTRY = "https://registry.npmjs.org"
#: npm package -> files taken from its tarball (``package/…``), saved under their base names.
FILES = {
    "react": ("umd/react.production.min.js",),
    "react-dom": ("umd/react-dom.production.min.js",),
    "graphiql": ("graphiql.min.js", "graphiql.min.css"),
}
DEFAULT_VERSIONS = {"react": "18.3.1", "react-dom": "18.3.1", "graphiql": "3.9.0"}

#: What the page needs, for deployments that set their own policy: its scripts and
#: styles from this server only; GraphiQL's fonts are data: URLs in its CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self' data:; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def versions() -> dict[str, dict]:
    return json.loads((STATIC / "VERSIONS.json").read_text(encoding="utf-8"))


def _asset(name: str, version: str) -> str:
    # Relative to /graphql, so that it also works when kehu is mounted under a prefix;
    # the version in the query string lets browsers cache the files across upgrades.
    return f"graphiql/{name}?v={version}"


@cache
def page() -> str:
    """The HTML GraphiQL page."""
    v = {name: info["version"] for name, info in versions().items()}
    own = hashlib.sha256((STATIC / "kehu-graphiql.js").read_bytes() + (STATIC / "kehu-graphiql.css").read_bytes())
    own_version = own.hexdigest()[:12]
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>kehu · GraphiQL</title>
    <link rel="stylesheet" href="{_asset("graphiql.min.css", v["graphiql"])}">
    <link rel="stylesheet" href="{_asset("kehu-graphiql.css", own_version)}">
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="{_asset("react.production.min.js", v["react"])}"></script>
    <script src="{_asset("react-dom.production.min.js", v["react-dom"])}"></script>
    <script src="{_asset("graphiql.min.js", v["graphiql"])}"></script>
    <script src="{_asset("kehu-graphiql.js", own_version)}"></script>
  </body>
</html>
"""


def routes() -> list:
    """The bundle's files under ``/graphiql``."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    return [Mount("/graphiql", app=StaticFiles(directory=STATIC), name="graphiql")]


# --------------------------------------------------------------------------- refreshing the bundle


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - the npm registry, https
        return response.read()


def refresh(wanted: dict[str, str], target: Path = STATIC) -> dict[str, dict]:
    """Download ``{package: version}`` from the npm registry, check each tarball
    against the registry's integrity hash, and write its files, its licence and
    VERSIONS.json into ``target``."""
    record = {}
    for package, version in wanted.items():
        meta = json.loads(_get(f"{REGISTRY}/{package}/{version}"))
        tarball = _get(meta["dist"]["tarball"])
        algorithm, _, expected = meta["dist"]["integrity"].partition("-")
        if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != expected:
            raise SystemExit(f"{package}@{version}: the tarball does not match the registry's integrity hash")
        files = {}
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for member in (*FILES[package], "LICENSE"):
                extracted = archive.extractfile(f"package/{member}")
                if extracted is None:
                    raise SystemExit(f"{package}@{version}: package/{member} is not a file in the tarball")
                data = extracted.read()
                name = f"LICENSE.{package}" if member == "LICENSE" else Path(member).name
                (target / name).write_bytes(data)
                files[name] = hashlib.sha256(data).hexdigest()
        record[package] = {
            "version": version,
            "license": meta.get("license"),
            "tarball": meta["dist"]["tarball"],
            "integrity": meta["dist"]["integrity"],
            "files": files,
        }
    (target / "VERSIONS.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kehu.server.graphiql", description="GraphiQL's bundled files")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("refresh", help="download the bundle from the npm registry into the package")
    current = (
        {name: info["version"] for name, info in versions().items()} if (STATIC / "VERSIONS.json").exists() else {}
    )
    p.add_argument("--graphiql", default=current.get("graphiql", DEFAULT_VERSIONS["graphiql"]))
    p.add_argument("--react", default=current.get("react", DEFAULT_VERSIONS["react"]), help="react and react-dom")
    args = parser.parse_args(argv)
    record = refresh({"react": args.react, "react-dom": args.react, "graphiql": args.graphiql})
    for package, info in record.items():
        print(f"{package}@{info['version']}: {', '.join(info['files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
