"""`rectify prefect-db`: JIT off for Prefect's role in Prefect's PostgreSQL database, and only there.

The cause it removes (rectify/cli/prefect_db.py): Prefect's graph-v2 query is costed in the
millions whatever the data, so PostgreSQL JIT-compiles it first (0.8 s idle, ~3 s under load, for
0.5 ms of work). Checked here on a database of its own (this session's and this worker's,
beside the test database): before, a new session has `jit = on` and a query costed above
`jit_above_cost` is planned with JIT; after, a new session has `jit = off` and the same plan has
no JIT; another database of the same role keeps `on`; a second run changes nothing; bad input is one Chinese line and exit 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WORKER, worker_database  # noqa: E402

pytestmark = pytest.mark.postgres

PREFECT_PG_URL = os.environ.get("RECTIFY_TEST_PREFECT_POSTGRES_URL")
# costed far above jit_above_cost (100,000) by the planner: JIT-compiled when jit is on
COSTLY = "EXPLAIN SELECT sum(g) FROM generate_series(1, 100000000) AS g"


@pytest.fixture
def prefect_like_db() -> str:
    if not PREFECT_PG_URL:
        if os.environ.get("RECTIFY_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("RECTIFY_TEST_PREFECT_POSTGRES_URL is required in CI")
        pytest.skip("Prefect 的 PostgreSQL 数据库未配置（设置 RECTIFY_TEST_PREFECT_POSTGRES_URL）")
    # per worker: this module's two tests may run at once on two workers, each resetting jit
    url = worker_database(PREFECT_PG_URL.replace("+asyncpg", "+psycopg"), f"{WORKER or 'main'}_jit")
    _sql(url, "ALTER ROLE CURRENT_USER IN DATABASE {db} RESET jit")
    return url.replace("+psycopg", "+asyncpg")  # as Prefect's server is given it


def _sql(url: str, statement: str) -> list[str]:
    """One statement in a new session ({db}: this database's quoted name); the first column."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement.replace("{db}", f'"{parsed.database}"'))
        rows = cursor.fetchall() if cursor.description else []
    return [str(r[0]) for r in rows]


def _jit(url: str) -> tuple[str, bool]:
    """(`SHOW jit` in a new session, whether the costly query's plan compiles with JIT)."""
    plan = "\n".join(_sql(url, COSTLY))
    return _sql(url, "SHOW jit")[0], "JIT:" in plan


def _run(*args: str, **env: str):
    return CliRunner().invoke(__import__("rectify.cli", fromlist=["app"]).app, ["prefect-db", *args], env=env)


def test_prefect_db_turns_jit_off_for_prefect_only(prefect_like_db):
    ledger = os.environ.get("RECTIFY_TEST_POSTGRES_URL")  # another database, never tuned
    available = _sql(prefect_like_db, "SELECT pg_jit_available()")[0] == "True"
    assert _jit(prefect_like_db) == ("on", available), "the server's default, before the set-up"

    result = _run(PREFECT_API_DATABASE_CONNECTION_URL=prefect_like_db)
    assert result.exit_code == 0, result.output
    name = prefect_like_db.rsplit("/", 1)[1]
    assert result.output.strip() == f"Prefect 数据库 {name} 已设置（jit = off，对新连接生效）"
    assert _jit(prefect_like_db) == ("off", False)
    if ledger:
        assert _sql(ledger, "SHOW jit") == ["on"], "the ledger's database is untouched"

    again = _run("--url", prefect_like_db)
    assert again.exit_code == 0, again.output
    assert _sql(
        prefect_like_db,
        "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d "
        "ON d.oid = s.setdatabase WHERE d.datname = current_database() "
        "AND s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
    ) == ["['jit=off']"]


def test_prefect_db_bad_input_is_one_line(prefect_like_db, monkeypatch):
    for var in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        monkeypatch.delenv(var, raising=False)
    missing = _run()
    assert missing.exit_code == 1
    assert missing.output.strip().splitlines() == [
        "错误：未给出 Prefect 数据库地址：请设置 PREFECT_API_DATABASE_CONNECTION_URL 或使用 --url"
    ]

    sqlite = _run("--url", "sqlite+aiosqlite:////tmp/prefect.db")
    assert (sqlite.exit_code, sqlite.output.strip()) == (0, "Prefect 数据库不是 PostgreSQL，无需设置")

    from sqlalchemy.engine import make_url

    wrong = make_url(prefect_like_db).set(password="not-the-password").render_as_string(hide_password=False)
    refused = _run("--url", wrong)
    assert refused.exit_code == 1
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误：未能设置 Prefect 数据库："), lines
    assert "not-the-password" not in refused.output and "Traceback" not in refused.output
    assert _jit(prefect_like_db)[0] == "on", "nothing set through a refused connection"
