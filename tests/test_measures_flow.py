"""The item run with measures and extensions, against Prefect's real API (the session harness).

The submission form is also where the owner asks for more time: its 申请事项 choice is
申请销号 or 申请延期. An extension asked for (in the form or on the command line) makes the run
wait for the secretary's extension form before it asks for the submission again.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from ledger_helpers import DAY, dump
from models import Extension, Measure
from models.db import session_factory
from test_item_flow import (actions, description, execute, item_deployment, ledger,  # noqa: F401
                            resume, sqlite_ledger, start, waits_at)

pytestmark = pytest.mark.flow


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
    resume(run_id, summary="已完成整改", evidence=[], submitter="刘洋")
    run = execute(run_id)
    assert waits_at(run, "submit-1-1"), run.state
    assert dump(ledger) == before
    assert "尚有整改措施未完成" in description(run)

    resume(run_id, request="申请延期", measure=1, extend_to="2027-01-29", reason="需党组会审议",
           submitter="刘洋")
    run = execute(run_id)
    assert waits_at(run, "extend-1-0"), run.state
    assert "需党组会审议" in description(run) and "2027-01-29" in description(run)

    before = dump(ledger)
    resume(run_id, decision="批准延期", comment="", reviewer="周建国")  # a leader: refused
    run = execute(run_id)
    assert waits_at(run, "extend-1-1"), run.state
    assert dump(ledger) == before and "仅秘书可以" in description(run)

    resume(run_id, decision="批准延期", comment="同意", reviewer="陈静")
    run = execute(run_id)
    assert waits_at(run, "submit-1e1-0"), run.state  # a fresh submission form
    assert measure(ledger) == (date(2027, 1, 29), date(2026, 12, 31), None, "")
    assert "原定时限 2026-12-31" in description(run)

    resume(run_id, completes=[1], summary="方案已印发", evidence=["方案.pdf"], submitter="刘洋")
    run = execute(run_id)
    assert waits_at(run, "review-1-0"), run.state
    assert measure(ledger) == (date(2027, 1, 29), date(2026, 12, 31), DAY, "方案已印发")
    assert [a for a, _ in actions(ledger)] == [
        "assign", "extension_request", "extension_approve", "submit"]


def test_a_refused_extension_request_asks_again_and_a_rejection_returns_to_the_form(
        sqlite_ledger, item_deployment):
    ledger = sqlite_ledger
    run_id = start(item_deployment)
    execute(run_id)
    before = dump(ledger)
    resume(run_id, request="申请延期", measure=1, extend_to="2027-01-02", reason="节后完成",
           submitter="刘洋")  # a Saturday
    run = execute(run_id)
    assert waits_at(run, "submit-1-1"), run.state
    assert dump(ledger) == before and "不是工作日" in description(run)

    resume(run_id, request="申请延期", measure=1, extend_to="2027-01-04", reason="节后完成",
           submitter="周建国")
    run = execute(run_id)
    assert waits_at(run, "extend-1-0"), run.state
    resume(run_id, decision="不予延期", comment="请按期完成", reviewer="陈静")
    run = execute(run_id)
    assert waits_at(run, "submit-1e1-0"), run.state
    assert measure(ledger)[:2] == (date(2026, 12, 31), None)
    with session_factory(ledger)() as s:
        assert s.scalars(select(Extension.status)).one() == "rejected"
