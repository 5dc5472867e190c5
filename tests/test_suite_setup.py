"""The test suite's own machinery (tests/conftest.py): under pytest-xdist each worker gets its
own PostgreSQL database, and the server-starting tests are grouped onto one worker. If this
broke, workers would truncate each other's ledgers or start two Prefect servers at once, and the
failures would show up far away, as flaky ledger or e2e tests."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, make_url, text

from conftest import PG_URL, worker_database


def test_without_xdist_the_configured_database_is_used():
    assert worker_database("postgresql+psycopg://u:p@h/db", None) == "postgresql+psycopg://u:p@h/db"


@pytest.mark.postgres
def test_each_worker_gets_its_own_database_created_once():
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (set RECTIFY_TEST_POSTGRES_URL; .ci/run does)")
    worker = "gwsetup"
    url = worker_database(PG_URL, worker)
    try:
        assert make_url(url).database == f"{make_url(PG_URL).database}_{worker}"
        assert make_url(url).password == make_url(PG_URL).password  # usable as it is
        assert worker_database(PG_URL, worker) == url  # a second call finds it
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT current_database()")) == make_url(url).database
        engine.dispose()
    finally:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))
        admin.dispose()


def test_server_starting_tests_share_one_xdist_group(request):
    items = [i for i in request.session.items if i.get_closest_marker("e2e")]
    if not items:
        pytest.skip("no e2e test collected in this run (make test collects them)")
    for item in items:
        groups = [m.args[0] for m in item.iter_markers("xdist_group")]
        assert groups == ["servers"], item.nodeid
