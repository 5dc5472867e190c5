"""The item run with measures and extensions, against Prefect's real API (the session harness).

The submission form is also where the owner asks for more time: its 申请事项 choice is
申请销号 or 申请延期. An extension asked for (in the form or on the command line) makes the run
wait for the secretary's extension form (延期审批, tag 待审批延期, her emailed code) before it
asks for the submission again, with a fresh code for the owner.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from ledger_helpers import DAY, dump, seed_item
from models import Extension, Measure
from models.db import session_factory
from api_attack_helpers import unchanged_but_codes
from item_flow_helpers import (
    actions,
    code,
    description,
    execute,
    ledger_without_tries,
    resume,
    start,
    tags,
    waits_at,
)

pytestmark = pytest.mark.flow


@pytest.fixture
def ledger(db_url, settings_env):
    """The item flow's ledger (one new item, ZG-2026-001) on SQLite and PostgreSQL."""
    settings_env(db_url, today=DAY.isoformat())
    return seed_item(db_url)


@pytest.fixture
def sqlite_ledger(sqlite_url, settings_env):
    settings_env(sqlite_url, today=DAY.isoformat())
    return seed_item(sqlite_url)


def measure(url: str) -> tuple:
    with session_factory(url)() as s:
        m = s.scalars(select(Measure)).one()
        return m.deadline, m.original_deadline, m.done_on, m.done_note


def test_extension_through_the_forms_then_closure_completing_the_measure(ledger, item_deployment):
    run_id = start(item_deployment)
    run = execute(run_id)
    assert waits_at(run, "submit-1-0"), run.state
    assert "申请延期" in description(run) and "未完成" in description(run)

    # the measure is not done and the form does not complete it: refused, nothing written
    before = dump(ledger)
    mine = code("刘洋", "销号申请")
    resume(run_id, summary="已完成整改", evidence=[], submitter="刘洋", code=mine)
    run = execute(run_id)
    assert waits_at(run, "submit-1-1"), run.state
    # nothing written; the right code, readable in the refused input, is replaced (issue #9)
    unchanged_but_codes(before, dump(ledger))
    assert "尚有整改措施未完成" in description(run) and "新的验证码已发送到刘洋的邮箱" in description(run)
    mine, spent = code("刘洋", "销号申请"), mine
    assert mine != spent

    resume(
        run_id,
        request="申请延期",
        measure=1,
        extend_to="2027-01-29",
        reason="需党组会审议",
        submitter="刘洋",
        code=mine,
    )
    run = execute(run_id)
    assert waits_at(run, "extend-1-0"), run.state
    assert tags(run_id) == {"待审批延期"}
    assert "需党组会审议" in description(run) and "2027-01-29" in description(run)
    props = description(run, "schema")["properties"]
    assert props["reviewer"]["enum"] == ["王芳", "陈静"] and props["code"]["title"] == "验证码"

    # a leader is no choice of the form: the server refuses before the run sees it
    with pytest.raises(RuntimeError, match="Cannot resume"):
        resume(run_id, decision="批准延期", comment="", reviewer="周建国", code=code("陈静", "延期审批"))
    before = ledger_without_tries(ledger)
    resume(
        run_id, decision="批准延期", comment="", reviewer="王芳", code=code("陈静", "延期审批")
    )  # her colleague's code: refused by the run
    run = execute(run_id)
    assert waits_at(run, "extend-1-1"), run.state
    assert ledger_without_tries(ledger) == before and "不是发给王芳的" in description(run)

    resume(run_id, decision="批准延期", comment="同意", reviewer="陈静", code=code("陈静", "延期审批"))
    run = execute(run_id)
    assert waits_at(run, "submit-1e1-0"), run.state  # a fresh submission form
    assert measure(ledger) == (date(2027, 1, 29), date(2026, 12, 31), None, "")
    assert "原定时限 2026-12-31" in description(run)
    fresh = code("刘洋", "销号申请")  # the request spent the first one
    assert fresh != mine

    resume(run_id, completes=[1], summary="方案已印发", evidence=["方案.pdf"], submitter="刘洋", code=fresh)
    run = execute(run_id)
    assert waits_at(run, "signoff-1-0"), run.state
    assert measure(ledger) == (date(2027, 1, 29), date(2026, 12, 31), DAY, "方案已印发")
    assert [a for a, _ in actions(ledger)] == ["assign", "extension_request", "extension_approve", "submit"]


def test_a_refused_extension_request_asks_again_and_a_rejection_returns_to_the_form(
    sqlite_ledger, item_deployment
):
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    execute(run_id)
    before = dump(ledger)
    resume(
        run_id,
        request="申请延期",
        measure=1,
        extend_to="2027-01-02",
        reason="节后完成",
        submitter="刘洋",
        code=code("刘洋", "销号申请"),
    )  # a Saturday
    run = execute(run_id)
    assert waits_at(run, "submit-1-1"), run.state
    unchanged_but_codes(before, dump(ledger))
    assert "不是工作日" in description(run)

    resume(
        run_id,
        request="申请延期",
        measure=1,
        extend_to="2027-01-04",
        reason="节后完成",
        submitter="周建国",
        code=code("周建国", "销号申请"),
    )
    run = execute(run_id)
    assert waits_at(run, "extend-1-0"), run.state
    resume(run_id, decision="不予延期", comment="请按期完成", reviewer="陈静", code=code("陈静", "延期审批"))
    run = execute(run_id)
    assert waits_at(run, "submit-1e1-0"), run.state
    assert measure(ledger)[:2] == (date(2026, 12, 31), None)
    with session_factory(ledger)() as s:
        assert s.scalars(select(Extension.status)).one() == "rejected"
