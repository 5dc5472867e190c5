"""Reopening a closed item (重新整改) against Prefect's real API: a new run that waits for the
next submission, and an unfinished run left alone. The rest of the item's flow run is
tests/test_item_flow.py's.
"""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from ledger_helpers import DAY, add_item, seed_item
from models import Item, Status
from models.db import session_factory
from rectify import item_process
from item_flow_helpers import CODE, actions, execute, start, status, tags, waits_at

pytestmark = pytest.mark.flow


@pytest.fixture
def ledger(db_url, settings_env):
    """On SQLite and PostgreSQL."""
    settings_env(db_url, today=DAY.isoformat())  # a run's `day` may only be the office's today
    return seed_item(db_url, CODE)


def reopen(url: str, code: str = CODE):
    from rectify.cli import app

    out = CliRunner().invoke(
        app, ["reopen", code, "--reason", "回头看发现问题反弹", "--as", "陈静", "--today", DAY.isoformat()]
    )
    assert out.exit_code == 0, out.output
    return out.output


def recheck_reopen(url: str, code: str = CODE):
    from rectify.cli import app

    out = CliRunner().invoke(
        app,
        [
            "recheck",
            code,
            "--reopen",
            "--reason",
            "回头看发现问题反弹",
            "--as",
            "陈静",
            "--today",
            DAY.isoformat(),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "回头看：出现反弹" in out.output
    return out.output


def run_of(url: str, code: str = CODE) -> str | None:
    with session_factory(url)() as s:
        return s.scalar(select(Item.flow_run_id).where(Item.code == code))


def test_reopen_starts_a_new_run_that_waits_for_the_next_submission(ledger, item_deployment):
    from prefect.client.orchestration import get_client

    from rectify.cli import app

    # Each backend's ledger gets a register day of its own: the runs' idempotency keys contain
    # it, and both ledgers hold the same code on the one Prefect server.
    register_day = DAY.replace(day=2 if ledger.startswith("sqlite") else 3)
    with session_factory(ledger)() as s, s.begin():
        s.execute(update(Item).where(Item.code == CODE).values(register_date=register_day))
    cli = CliRunner()
    day = ["--today", DAY.isoformat()]
    first = start(item_deployment)
    execute(first)
    with session_factory(ledger)() as s, s.begin():
        item_process.link_run(s, CODE, str(first))

    previous = str(first)
    for n in (1, 2):
        assert (
            cli.invoke(
                app, ["submit", CODE, "--summary", "已整改", "--complete", "1", "--as", "刘洋"] + day
            ).exit_code
            == 0
        )
        execute(UUID(previous))
        assert cli.invoke(app, ["review", CODE, "--approve", "--as", "周建国"] + day).exit_code == 0
        execute(UUID(previous))
        recheck_on = ["--recheck-on", "2027-01-04"] if n == 2 else []
        assert (
            cli.invoke(app, ["review", CODE, "--approve", "--as", "陈静"] + recheck_on + day).exit_code == 0
        )
        assert execute(UUID(previous)).state.is_completed()

        # the second time through 回头看: `recheck --reopen` is the same reopen and its new run
        out = reopen(ledger) if n == 1 else recheck_reopen(ledger)
        new = run_of(ledger)
        assert f"已启动新的流程运行 {new}" in out and new != previous
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(new))
        assert run.idempotency_key == f"{CODE}@{register_day.isoformat()}#reopen-{n}"
        assert run.name == f"{CODE} 问题 {CODE}" and "领导:周建国" in run.tags
        assert "secretary" not in run.parameters
        # created already waiting for the next submission, as the intake creates runs: no process
        assert waits_at(run, f"submit-{n + 1}-0"), run.state
        assert run.run_count == 0 and "submit-{}-0".format(n + 1) in run.empirical_policy.pause_keys
        assert tags(run.id) == {"待提交"}
        assert status(ledger) is Status.in_progress
        previous = new
    assert [a for a, _ in actions(ledger)].count("reopen") == 2


def test_reopen_leaves_an_unfinished_run_alone_and_says_so_without_prefect(sqlite_ledger, item_deployment):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    ledger = sqlite_ledger
    with session_factory(ledger)() as s, s.begin():
        add_item(s, "ZG-2026-002", Status.closed)
        s.execute(update(Item).values(status=Status.closed))
    waiting = start(item_deployment)  # scheduled, never picked up: it will read the ledger
    with session_factory(ledger)() as s, s.begin():
        item_process.link_run(s, CODE, str(waiting))
        item_process.link_run(s, "ZG-2026-002", "8d9c6a53-0000-4000-8000-000000000000")

    assert f"流程运行 {waiting} 尚未结束" in reopen(ledger)
    assert run_of(ledger) == str(waiting)

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        out = reopen(ledger, "ZG-2026-002")
    assert "未设置 PREFECT_API_URL，未能为 ZG-2026-002 启动新的流程运行" in out
    assert run_of(ledger, "ZG-2026-002") == "8d9c6a53-0000-4000-8000-000000000000"
    assert status(ledger, "ZG-2026-002") is Status.in_progress
