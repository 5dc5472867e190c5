"""Repair: an open item whose run was cancelled or deleted gets a new waiting run, linked and
audited; a closed item never; `rectify submit` on an item whose run is gone says so."""

from __future__ import annotations

from uuid import UUID

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from ledger_helpers import DAY
from models import AuditRecord, Item, Status
from models.db import session_factory
from rectify import item_process
from waiting_run_helpers import paused, precreate, seed_new_items
from item_flow_helpers import waits_at

pytestmark = pytest.mark.flow

OPEN, GONE, CLOSED = "ZG-2026-011", "ZG-2026-012", "ZG-2026-013"


@pytest.fixture
def ledger(sqlite_url, settings_env):
    return seed_new_items(sqlite_url, settings_env, (OPEN, GONE, CLOSED))


def links(url: str) -> dict[str, str | None]:
    with session_factory(url)() as s:
        return dict(s.execute(select(Item.code, Item.flow_run_id)).all())


def test_cancelled_and_deleted_runs_are_replaced_closed_items_never(ledger, item_deployment):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    from rectify import workflow
    from tasks.run_repair import repair_item_runs

    old = {}
    for code in (OPEN, GONE, CLOSED):
        # created waiting and linked, as the intake does
        old[code] = str(precreate(ledger, item_deployment, code, "陈静", f"{code}@repair-test"))
    with item_process.transaction(ledger) as s:  # closed from the command line meanwhile
        chen, liu = workflow.get_person(s, "陈静"), workflow.get_person(s, "刘洋")
        workflow.submit(s, CLOSED, liu, DAY, summary="已整改", evidence=[], completes=[1])
        workflow.signoff(s, CLOSED, workflow.get_person(s, "周建国"), DAY)
        workflow.approve(s, CLOSED, chen, DAY, comment="同意")
    with get_client(sync_client=True) as client:
        for code in (OPEN, CLOSED):  # Cancel beside Resume in the UI
            client.set_flow_run_state(UUID(old[code]), Cancelled(), force=True)
        client.delete_flow_run(UUID(old[GONE]))

    repaired = repair_item_runs.fn(DAY)
    assert set(repaired) == {OPEN, GONE}
    now = links(ledger)
    assert now[CLOSED] == old[CLOSED]
    for code in (OPEN, GONE):
        assert now[code] == repaired[code] != old[code]
        assert waits_at(paused(UUID(now[code])), "submit-1-0")
        assert "待提交" in paused(UUID(now[code])).tags  # the worklist tag from creation
    with session_factory(ledger)() as s:
        audit = s.execute(
            select(Item.code, AuditRecord)
            .join(Item, Item.id == AuditRecord.item_id)
            .where(AuditRecord.action == "relink_run")
        ).all()
        assert {(c, a.actor, a.details["old_run"], a.details["new_run"]) for c, a in audit} == {
            (c, item_process.REPAIR_ACTOR, old[c], now[c]) for c in (OPEN, GONE)
        }
        audit = [a for _, a in audit]
        assert {a.comment for a in audit} == {
            "原流程运行已取消，已补建等待表单的流程运行",
            "原流程运行已删除，已补建等待表单的流程运行",
        }
    assert repair_item_runs.fn(DAY) == {}  # the next sweep finds every open item waiting


def test_submit_on_an_item_whose_run_is_gone_says_so(ledger, item_deployment):
    from prefect.client.orchestration import get_client

    from rectify.cli import app

    run_id = precreate(ledger, item_deployment, OPEN, "陈静", f"{OPEN}@gone-test")
    with item_process.transaction(ledger) as s:
        item_process.link_run(s, OPEN, str(run_id))
    with get_client(sync_client=True) as client:
        client.delete_flow_run(run_id)
    out = CliRunner().invoke(
        app,
        [
            "submit",
            OPEN,
            "--summary",
            "已整改",
            "--complete",
            "1",
            "--as",
            "刘洋",
            "--today",
            DAY.isoformat(),
        ],
    )
    assert out.exit_code == 0, out.output
    line = [x for x in out.output.splitlines() if "流程运行" in x]
    assert len(line) == 1 and "已不存在" in line[0] and "自动补建" in line[0], out.output
    with session_factory(ledger)() as s:
        assert s.scalar(select(Item.status).where(Item.code == OPEN)) is Status.leader_review
