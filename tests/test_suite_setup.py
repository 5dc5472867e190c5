"""The test suite's own machinery (tests/conftest.py, tests/session_databases.py): each session
and each of its xdist workers gets its own PostgreSQL database, left-overs of killed sessions are
dropped and live ones kept, and the server-starting tests are grouped onto one worker. If this
broke, workers or two `make test` at once would truncate each other's ledgers or start two
Prefect servers at once, and the failures would show up far away, as flaky ledger or e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, make_url, text

import session_databases as sd
from conftest import PG_URL, SESSION, WORKER, worker_database


def test_the_session_token_is_made_by_the_process_pytest_was_started_as():
    found = sd.TOKEN_RE.fullmatch(SESSION)
    assert found and os.environ[sd.ENV] == SESSION  # inherited by every child process
    # an xdist worker is a child of the controller, which made the token for all its workers
    assert int(found["pid"]) == (os.getppid() if WORKER else os.getpid())
    assert found["host"] == sd.HOST and abs(time.time() - int(found["time"], 16)) < 3 * 24 * 3600


def test_which_tokens_are_stale():
    now = time.time()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert not sd.is_stale(sd.new_token(now, os.getpid()), now)  # alive, recent
    assert sd.is_stale(sd.new_token(now, int(gone)), now)  # its process is gone
    assert sd.is_stale(sd.new_token(now - 2 * 24 * 3600, os.getpid()), now)  # older than a day
    other = "0000" if sd.HOST != "0000" else "1111"  # another host sharing the server
    assert not sd.is_stale(f"{int(now):08x}{other}p{gone}", now)  # its pids are not ours to check
    assert sd.is_stale(f"{int(now - 2 * 24 * 3600):08x}{other}p{gone}", now)
    assert not sd.is_stale("not-a-token", now)
    with pytest.raises(ValueError):
        sd.database_name("postgresql+psycopg://u:p@h/" + "d" * 50, SESSION, "gw0")


def _exists(name: str) -> bool:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) == 1
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_each_session_and_worker_gets_its_own_database_created_once():
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (set RECTIFY_TEST_POSTGRES_URL; .ci/run does)")
    worker = "gwsetup"
    url = worker_database(PG_URL, worker)
    try:
        assert make_url(url).database == f"{make_url(PG_URL).database}_{SESSION}_{worker}"
        assert make_url(url).password == make_url(PG_URL).password  # usable as it is
        assert worker_database(PG_URL, worker) == url  # a second call finds it
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT current_database()")) == make_url(url).database
        engine.dispose()
        other = sd.new_token(pid=os.getpid() + 1)  # another session beside this one
        assert worker_database(PG_URL, worker) != sd.session_database(PG_URL, other, worker)
        assert sd.drop_session([PG_URL], other) == [sd.database_name(PG_URL, other, worker)]
        assert _exists(make_url(url).database), "another session's end drops only its own"
    finally:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))
        admin.dispose()


@pytest.mark.postgres
def test_left_overs_of_killed_sessions_are_dropped_and_live_sessions_kept():
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (set RECTIFY_TEST_POSTGRES_URL; .ci/run does)")
    now, tokens = time.time(), {}
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        tokens = {
            "killed": sd.new_token(now, killed.pid),
            "alive": sd.new_token(now, alive.pid),
            "old": sd.new_token(now - 2 * 24 * 3600, alive.pid),
            "elsewhere": f"{int(now):08x}{'0000' if sd.HOST != '0000' else '1111'}p{killed.pid}",
        }
        # (another host's session, recent: kept though no process here has its pid)
        names = {k: make_url(sd.session_database(PG_URL, t, "probe")).database for k, t in tokens.items()}
        # a killed session's servers may still be connected to its database
        holder = create_engine(sd.session_database(PG_URL, tokens["killed"], "probe"))
        held = holder.connect()
        killed.kill()
        killed.wait()
        dropped = sd.drop_stale([PG_URL], SESSION)
        assert {names["killed"], names["old"]} <= set(dropped)
        assert not {names["alive"], names["elsewhere"], worker_database(PG_URL, WORKER)} & set(dropped)
        assert [k for k, n in names.items() if _exists(n)] == ["alive", "elsewhere"]
        held.invalidate()  # its server process was ended by DROP DATABASE … WITH (FORCE)
        holder.dispose()
    finally:
        alive.kill()
        alive.wait()
        if killed.poll() is None:
            killed.kill()
        for token in tokens.values():
            sd.drop_session([PG_URL], token)


def test_server_starting_tests_share_one_xdist_group(request):
    items = [i for i in request.session.items if i.get_closest_marker("e2e")]
    if not items:
        pytest.skip("no e2e test collected in this run (make test collects them)")
    for item in items:
        groups = [m.args[0] for m in item.iter_markers("xdist_group")]
        assert groups == ["servers"], item.nodeid
