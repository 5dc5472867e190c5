"""`rectify init` on a new SQLite file, in the working directory and on PostgreSQL, and the read
commands staying light (`rectify list`/`show` on a 10,000-item ledger never import Prefect).
The rest of the command line is tests/test_cli.py's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ledger_helpers import RECTIFY, build_big_ledger, env_for, sh
from models.db import get_engine
from rectify.schema import alembic_config


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


# --- init -----------------------------------------------------------------------------


def test_init_on_a_new_sqlite_file_is_rerunnable(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for _ in range(2):
        result = sh(tmp_path, url, "init")
        assert result.returncode == 0, result.stderr
        assert "台账数据库已就绪" in result.stdout
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision(
            url
        )
        assert conn.execute(text("SELECT count(*) FROM items")).scalar_one() == 0


def test_init_embedded_default_in_the_working_directory(tmp_path):
    env = env_for("unused")
    del env["RECTIFY_DATABASE_URL"]
    result = subprocess.run([str(RECTIFY), "init"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rectify.db").exists()


@pytest.mark.postgres
def test_init_on_postgres_creates_and_upgrades(tmp_path, pg_migrated):
    url = pg_migrated
    with get_engine(url).begin() as conn:  # start from an empty database
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    get_engine(url).dispose()
    for _ in range(2):
        result = sh(tmp_path, url.replace("postgresql+psycopg://", "postgresql://"), "init")
        assert result.returncode == 0, result.stderr
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision(
            url
        )
        assert conn.execute(text("SELECT count(*) FROM items")).scalar_one() == 0


# --- read commands are light ---------------------------------------------------------


@pytest.fixture(scope="session")
def big_ledger(tmp_path_factory, sqlite_template) -> str:
    path = tmp_path_factory.mktemp("big") / "ledger.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    build_big_ledger(url, 10_000)
    return url


PROBE = """
import contextlib, io, sys, time
start = time.perf_counter()
from rectify.cli import app
times = {"import": time.perf_counter() - start}
out = io.StringIO()
for args in (["list", "--today", "2026-11-30"], ["list", "--json"], ["list", "--overdue"],
             ["show", "ZG-05000", "--json"]):
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        try:
            app(args)
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
    times[" ".join(args[:2])] = time.perf_counter() - start
loaded = sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))
print("PREFECT_MODULES=" + ",".join(loaded))
print("LINES=%d" % out.getvalue().count("\\n"))
for key, value in times.items():
    print("TIME %s=%.3f" % (key, value))
"""


def test_list_and_show_do_not_import_prefect(big_ledger, tmp_path):
    """One subprocess on a 10,000-item ledger: no Prefect module is loaded by list/show, and
    they print every item. Their speed is measured by bench/bench_cli.py, not asserted here:
    a test must not depend on how busy the machine is (it failed at load 11 on 2 cores)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env=env_for(big_ledger),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "PREFECT_MODULES=" in lines, [line for line in lines if line.startswith("PREFECT")]
    assert int(next(line for line in lines if line.startswith("LINES=")).split("=")[1]) > 20_000
    commands = [line.split("=")[0].removeprefix("TIME ") for line in lines if line.startswith("TIME ")]
    assert "show ZG-05000" in commands and "list --today" in commands, commands
