"""Shared fixtures: a fresh ledger per test on SQLite and (where CI started it) PostgreSQL,
and one Prefect test harness for the whole session.

`make test` runs the suite on a few pytest-xdist workers (docs/testing.md): each worker is its
own process with its own session fixtures, so each gets its own Prefect harness (a free port, a
temporary database) and its own PostgreSQL database, `<database>_<session token>_gw0`…, created
here from RECTIFY_TEST_POSTGRES_URL on first use (the test role has CREATEDB) and dropped when
the session ends (tests/session_databases.py: two sessions at once never share a database).
Tests that start servers and a browser share the `servers` xdist group: one worker runs them one
at a time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# The 验证码 key (rectify.code_key) of this test session, for every process it starts (serve,
# workers, flow runs): without it each would make code.key in its own data folder (the
# checkout's, for most tests). Random per session: no key in the repository. Tests of the
# key file itself (test_code_secret.py, test_up.py) unset it.
os.environ.setdefault("RECTIFY_CODE_SECRET", __import__("secrets").token_hex(32))

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

import session_databases
from models.base import Base
from models.db import get_engine, session_factory
from rectify.schema import upgrade
from rectify.settings import get_settings

PG_URL = os.environ.get("RECTIFY_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("RECTIFY_TEST_REQUIRE_POSTGRES") == "1"
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1"… under `pytest -n N`; unset otherwise
PREFECT_PG_URL = os.environ.get("RECTIFY_TEST_PREFECT_POSTGRES_URL")
SESSION = session_databases.session_token(WORKER)  # this session's, shared with its workers

pytest_plugins: list[str] = []


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items):
    """Tests that start `prefect server`, `rectify up` or Chromium run one at a time, on one
    worker: two of them at once on a busy machine are what made their waits time out."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("servers"))


def _configured_urls() -> list[str]:
    return [url for url in (PG_URL, PREFECT_PG_URL) if url]


def pytest_sessionstart(session):
    """The process pytest was started as drops what killed sessions left on the server."""
    if WORKER is None and _configured_urls():
        try:
            session_databases.drop_stale(_configured_urls(), SESSION)
        except Exception as exc:  # a server that is down fails the tests needing it, with reason
            print(f"tests: stale test databases not checked: {exc}")


@pytest.hookimpl(hookwrapper=True)
def pytest_sessionfinish(session):
    """After xdist has stopped its workers: drop this session's databases."""
    yield
    if WORKER is None and _configured_urls():
        session_databases.drop_session(_configured_urls(), SESSION)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Migrate once, copy the file per test: Alembic on every test would cost seconds."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    upgrade(f"sqlite:///{path}")
    get_engine(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("RECTIFY_TEST_POSTGRES_URL is required in CI")
        pytest.skip("PostgreSQL not configured (set RECTIFY_TEST_POSTGRES_URL; .ci/run does)")
    url = worker_database(PG_URL, WORKER)  # new this session; emptied anyway
    with get_engine(url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(url)
    return url


def worker_database(url: str, worker: str | None) -> str:
    """This session's database for this xdist worker (`main` without xdist) beside the one
    `url` names, created if missing."""
    return session_databases.session_database(url, SESSION, worker or "main")


def _truncate_pg(url: str) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path, sqlite_template) -> str:
    """A fresh, migrated, empty ledger on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    """SQLite only, for tests whose backend does not matter."""
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def session_maker(db_url):
    return session_factory(db_url)


@pytest.fixture
def session(session_maker) -> Session:
    with session_maker() as s:
        yield s


@pytest.fixture
def settings_env(monkeypatch, tmp_path):
    """Point the app's settings (RECTIFY_*) at a test ledger; returns a setter."""

    def apply(db_url: str, **extra: str) -> None:
        monkeypatch.setenv("RECTIFY_DATABASE_URL", db_url)
        monkeypatch.setenv("RECTIFY_OUTBOX_DIR", str(tmp_path / "outbox"))
        monkeypatch.setenv("RECTIFY_REPORT_DIR", str(tmp_path / "reports"))
        for key, value in extra.items():
            monkeypatch.setenv(f"RECTIFY_{key.upper()}", value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture
def single_review(monkeypatch):
    """RECTIFY_LEADER_SIGNOFF=false: the office's single review, a submission goes to 待审核."""
    monkeypatch.setenv("RECTIFY_LEADER_SIGNOFF", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (temporary API server and database) for every flow test."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.testing.utilities import prefect_test_harness

    # A ceiling, not a speed bar: with four workers starting their harnesses at once on a
    # machine at load 28 the server took over two minutes to answer (120 s timed out).
    try:
        with prefect_test_harness(server_startup_timeout=600):
            yield
    except BaseException:
        # A start that timed out leaves its uvicorn running: Prefect stops it only at exit, which
        # an xdist worker skips, so it outlived the suite (two were found 37 minutes later).
        server = SubprocessASGIServer._instances.get(None)
        if server is not None:
            server.stop()
        raise


@pytest.fixture
def api_env(prefect_harness) -> dict:
    """The harness's API for a `rectify` subprocess: `remind`/`report` do not start their own server."""
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore"}


@pytest.fixture(scope="module")
def item_deployment(prefect_harness):
    """The item flow's deployment on the session's server (a resumed run needs one)."""
    from flows.item import rectification_item

    return rectification_item.to_deployment(name="rectification-item").apply()


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def cli(workdir, sqlite_url, settings_env):
    """In-process `rectify` (typer's CliRunner) on a migrated SQLite ledger in the working
    directory, acting as 陈静; run.url is the ledger."""
    from typer.testing import CliRunner

    from rectify.cli import app

    settings_env(sqlite_url, user="陈静")
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.stdout + result.stderr
        return result

    run.url = sqlite_url
    return run


@pytest.fixture
def sqlite_ledger(sqlite_url, settings_env):
    """The flow tests' item ZG-2026-001 on SQLite only, for the refusal cases: the rules
    themselves run on both backends in test_workflow.py, and every flow test costs seconds."""
    from ledger_helpers import DAY, seed_item

    # the office's today is the tests' DAY: the runs' `day` parameter may only be today
    settings_env(sqlite_url, today=DAY.isoformat())
    return seed_item(sqlite_url, "ZG-2026-001")
