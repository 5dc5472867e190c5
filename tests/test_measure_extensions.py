"""申请延期 of one measure, on SQLite and PostgreSQL: an approval moves the measure's deadline,
keeps the original and restarts the reminder ladder; a rejection leaves it; requests and
decisions the rules refuse change nothing and say why in one line (rectify.extensions).
The measures themselves (done one by one, lights, the closure rule) are in test_measures.py.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from ledger_helpers import add_people, add_with_measures, audit_rows, refused
from ledger_helpers import people_by_name as people
from models import Extension, Person, ReminderLine
from rectify import extensions, measures, workflow
from rectify.errors import Forbidden, InvalidInput, InvalidTransition
from rectify.queries import item_detail
from rectify.reminders import plan_reminders, record_reminders
from rectify.settings import Settings
from rectify.workdays import WorkCalendar

CAL = WorkCalendar()
SETTINGS = Settings(_env_file=None)


@pytest.fixture
def ledger(session_maker):
    with session_maker.begin() as s:
        add_people(s)
    return session_maker


# --- extensions ---------------------------------------------------------------------------


def _ask(to: date, who: str = "刘洋", number: int = 1, reason: str = "需党组会审议", day=date(2026, 11, 30)):
    return lambda s, p: extensions.request(s, "E-1", number, p[who], day, to=to, reason=reason, calendar=CAL)


def _decide(approve: bool, who: str = "陈静", comment: str = "同意", day=date(2026, 12, 1)):
    return lambda s, p: extensions.decide(
        s, "E-1", 1, p[who], day, approve=approve, comment=comment, calendar=CAL
    )


def test_extension_approved_moves_the_deadline_keeps_the_original_and_restarts_the_ladder(db_url, ledger):
    with ledger.begin() as s:
        item = add_with_measures(s, "E-1", date(2026, 12, 7), date(2026, 12, 31))
    # 30 Nov: measure 1 is 5 working days away: the first rung goes out and is recorded.
    with ledger.begin() as s:
        plan = plan_reminders(s, date(2026, 11, 30), CAL, SETTINGS)
        assert {(ln.code, ln.rung, ln.deadline) for ln in plan.lines} == {
            ("E-1", "due_soon_5", date(2026, 12, 7))
        }
        record_reminders(s, date(2026, 11, 30), plan, SETTINGS)
    with ledger.begin() as s:
        _ask(date(2027, 1, 15))(s, people(s))
    with ledger() as s:  # asked, not yet approved: nothing moved but the request and its audit
        assert workflow.get_item(s, "E-1").measures[0].deadline == date(2026, 12, 7)
    with ledger.begin() as s:
        _decide(True)(s, people(s))
    with ledger() as s:
        item = workflow.get_item(s, "E-1")
        m = item.measures[0]
        assert (m.deadline, m.original_deadline, m.deadline_text) == (
            date(2027, 1, 15),
            date(2026, 12, 7),
            "2027-01-15",
        )
        assert item.deadline == date(2027, 1, 15) and item.deadline_changed_on == date(2026, 12, 1)
        ext = s.scalars(select(Extension)).one()
        assert (ext.status, ext.decided_by_id, ext.decided_on, ext.comment) == (
            "approved",
            people(s)["陈静"].id,
            date(2026, 12, 1),
            "同意",
        )
        assert [(r.action, r.actor, r.details) for r in audit_rows(s, item)] == [
            ("extension_request", "刘洋", {"measure": 1, "from": "2026-12-07", "to": "2027-01-15"}),
            ("extension_approve", "陈静", {"measure": 1, "from": "2026-12-07", "to": "2027-01-15"}),
        ]
        d = item_detail(s, "E-1", date(2026, 12, 8), calendar=CAL, settings=SETTINGS)
        assert (d["overdue"], d["measures"][0]["original_deadline"], d["measures"][0]["light"]) == (
            False,
            "2026-12-07",
            "green",
        )  # past the old date: not overdue any more
        assert extensions.approved_extensions(s, date(2026, 11, 30)) == []
        assert extensions.approved_extensions(s, date(2026, 12, 1)) == [
            {
                "code": "E-1",
                "measure": 1,
                "text": "措施1",
                "original_deadline": date(2026, 12, 7),
                "new_deadline": date(2027, 1, 15),
                "reason": "需党组会审议",
                "approved_on": date(2026, 12, 1),
            }
        ]
        # The ladder starts again for the new date: 5 working days before 15 Jan 2027 is 8 Jan.
        plan = plan_reminders(s, date(2027, 1, 8), CAL, SETTINGS)
        assert ("E-1", "due_soon_5", date(2027, 1, 15)) in {
            (ln.code, ln.rung, ln.deadline) for ln in plan.lines
        }
        # …and the old date's rung stays recorded once, never resent
        assert s.scalar(select(ReminderLine.deadline).where(ReminderLine.rung == "due_soon_5")) == date(
            2026, 12, 7
        )


def test_extension_rejected_leaves_the_deadline(db_url, ledger):
    with ledger.begin() as s:
        add_with_measures(s, "E-1", date(2026, 12, 7))
    with ledger.begin() as s:
        _ask(date(2026, 12, 18))(s, people(s))
    refused(db_url, ledger, _decide(False, comment=" "), InvalidTransition, "不予延期时须填写审批意见")
    with ledger.begin() as s:
        _decide(False, comment="理由不充分，请按期完成")(s, people(s))
    with ledger() as s:
        item = workflow.get_item(s, "E-1")
        assert (item.measures[0].deadline, item.measures[0].original_deadline) == (date(2026, 12, 7), None)
        assert s.scalars(select(Extension.status)).one() == "rejected"
        assert audit_rows(s, item)[-1].action == "extension_reject"
        assert extensions.approved_extensions(s, date(2026, 12, 31)) == []
    # a new request for the same measure may follow
    with ledger.begin() as s:
        _ask(date(2026, 12, 11), day=date(2026, 12, 2))(s, people(s))


@pytest.mark.parametrize(
    "ask,exc,match",
    [
        (_ask(date(2026, 12, 7)), InvalidInput, "须晚于当前时限 2026-12-07"),
        (_ask(date(2026, 12, 1)), InvalidInput, "须晚于当前时限"),
        (_ask(date(2026, 12, 12)), InvalidInput, "不是工作日"),  # a Saturday
        (_ask(date(2028, 1, 4)), InvalidInput, "超出合理范围"),
        (_ask(date(9999, 12, 31)), InvalidInput, "超出有效范围"),
        (_ask(date(2026, 12, 18), who="孙丽"), Forbidden, "不是事项 E-1 的责任人或责任领导"),
        (_ask(date(2026, 12, 18), who="陈静"), Forbidden, "不是事项 E-1 的责任人或责任领导"),
        (_ask(date(2026, 12, 18), reason=""), InvalidTransition, "延期理由不能为空"),
        (_ask(date(2026, 12, 18), number=2), InvalidTransition, "第2条措施为长期坚持"),
        (_ask(date(2026, 12, 18), number=3), InvalidTransition, "已于 2026-09-10 完成"),
        (_ask(date(2026, 12, 18), number=4), InvalidInput, "没有第4条"),
    ],
    ids=[
        "same",
        "earlier",
        "saturday",
        "window",
        "typo",
        "other-owner",
        "secretary",
        "no-reason",
        "ongoing",
        "done",
        "no-measure",
    ],
)
def test_extension_requests_refused_in_one_line(db_url, ledger, ask, exc, match):
    with ledger.begin() as s:
        add_with_measures(s, "E-1", date(2026, 12, 7), None, date(2026, 12, 31), done=(3,))
    refused(db_url, ledger, ask, exc, match)


def test_extension_decisions_refused(db_url, ledger):
    with ledger.begin() as s:
        add_with_measures(s, "E-1", date(2026, 12, 7))
    refused(db_url, ledger, _decide(True), InvalidTransition, "没有待审批的延期申请")
    with ledger.begin() as s:
        _ask(date(2026, 12, 18), who="周建国")(s, people(s))
    refused(db_url, ledger, _ask(date(2026, 12, 21)), InvalidTransition, "已有待审批的延期申请")
    refused(db_url, ledger, _decide(True, who="周建国"), Forbidden, "仅秘书可以")
    refused(db_url, ledger, _decide(True, who="刘洋"), Forbidden, "仅秘书可以")
    # the asker, were they a secretary, never approves their own request
    with ledger.begin() as s:
        s.get(Person, people(s)["周建国"].id).role = people(s)["陈静"].role
    refused(db_url, ledger, _decide(True, who="周建国"), Forbidden, "不能审批自己的申请")
    # done in the meantime: the extension has nothing left to move
    with ledger.begin() as s:
        measures.mark_done(s, "E-1", 1, people(s)["刘洋"], date(2026, 12, 1), note="提前完成")
    refused(db_url, ledger, _decide(True), InvalidTransition, "已完成或已变更")
