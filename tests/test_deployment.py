"""docs/deployment.md works as written: its blocks marked `# (run by
tests/test_deployment.py)` run in page order as one bash script — kehu init with
the built-in plugins, two workers on PostgreSQL, the admin signing in, the outbox
commands, a backup, an upgrade's migrate — and its table of environment variables
is exactly what the code reads."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serving import free_port

from kehu.testing import database_url

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "deployment.md"
MARK = "# (run by tests/test_deployment.py)"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
# String constants that look like variables and are not read from the environment.
NOT_ENVIRONMENT = {"KEHU_ERROR"}


def script() -> str:
    blocks = [m.group(1) for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]
    steps = [block for block in blocks if block.startswith(MARK + "\n")]
    assert len(steps) >= 5, f"docs/deployment.md lost its `{MARK}` blocks"
    # Stop the workers however the script ends.
    prologue = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n"
    return prologue + "\n".join(steps)


@pytest.mark.skipif(
    not os.environ.get("KEHU_TEST_POSTGRES") or not shutil.which("curl") or not shutil.which("pg_dump"),
    reason="runs against PostgreSQL (KEHU_TEST_POSTGRES), with curl and pg_dump",
)
def test_the_deployment_page_runs_as_a_script_with_two_workers(tmp_path):
    with database_url(tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
        env |= {
            "KEHU_DATABASE_URL": url,
            "KEHU_ADMIN_EMAIL": "admin@example.com",
            "KEHU_ADMIN_PASSWORD": "a-long-admin-password",
            "PORT": str(free_port()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        result = subprocess.run(
            ["bash", "-c", script()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "plugins enabled: segmentation, loyalty, complaints, surveys, masking, console" in result.stdout
    assert "created admin admin@example.com" in result.stdout
    assert re.search(r'"token":"[^"]{20,}"', result.stdout), output[-4000:]
    assert len(re.findall(r"Started server process", output)) == 2, output[-4000:]
    assert "database is up to date" in result.stdout
    assert (tmp_path / "kehu.dump").stat().st_size > 0


def environment_variables_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("core", "schema", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"[\"']((?:KEHU|PROMETHEUS)_[A-Z_]+)[\"']", path.read_text(encoding="utf-8")))
    return found - NOT_ENVIRONMENT


def test_the_table_of_environment_variables_is_what_the_code_reads():
    section = PAGE.read_text(encoding="utf-8").split("## 10. Environment variables", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert listed == environment_variables_in_code()
    assert "DATABASE_URL" not in listed
