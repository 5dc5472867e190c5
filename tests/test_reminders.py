"""The reminder ladder and the outbox records (rectify.reminders), on SQLite and PostgreSQL.

Dates are real 2026 statutory-calendar days: National Day 2026 is a holiday from Thu 1 Oct to
Wed 7 Oct, with Sun 20 Sep and Sat 10 Oct as 调休 working days, and Fri 25 Sep a holiday.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from models import Item, Measure, OutboxMail, ReminderLine, Status
from rectify.outbox import queue_notice
from rectify.reminders import plan_reminders, record_reminders
from rectify.settings import Settings
from rectify.workdays import WorkCalendar
from reminder_helpers import CAL, SETTINGS, item, people

OVERRIDE_2027 = Path(__file__).resolve().parent.parent / "rectify" / "data" / "calendar-2027.example.json"


def rungs(plan) -> set[tuple[str, str, str, int]]:
    """(recipient, item code, rung, days) for every planned line."""
    return {(d.name, line.code, line.rung, line.days) for d in plan.digests for line in d.lines}


@pytest.fixture
def ppl(session):
    p = people(session)
    session.commit()
    return p


def test_ladder_before_deadline_across_national_day(session, ppl):
    owner, leader = ppl["刘洋"], ppl["周建国"]
    item(session, "A-1", owner, leader, date(2026, 10, 8))  # 1 working day after 30 Sep
    item(session, "A-2", owner, leader, date(2026, 10, 13))  # 8, 9, 10 (调休 Sat), 12, 13 = 5
    item(session, "A-3", owner, leader, date(2026, 10, 12))  # 4: no rung
    item(session, "A-4", owner, leader, date(2026, 10, 3))  # a holiday: its eve is the deadline day
    item(session, "A-5", owner, leader, date(2026, 10, 9))  # 2: no rung
    plan = plan_reminders(session, date(2026, 9, 30), CAL, SETTINGS)
    assert rungs(plan) == {
        ("刘洋", "A-1", "due_soon_1", 1),
        ("刘洋", "A-2", "due_soon_5", 5),
        ("刘洋", "A-4", "due_today", 0),
        ("周建国", "A-4", "due_today_cc", 0),
    }
    # one email each: the owner's digest has two sections, the leader's one
    kinds = {d.name: (d.kind, list(d.sections)) for d in plan.digests}
    assert kinds == {
        "刘洋": ("digest", ["due_today", "due_soon"]),
        "周建国": ("due_today_cc", ["due_today_cc"]),
    }


def test_holidays_send_nothing_and_a_调休_saturday_does(session, ppl):
    item(session, "B-1", ppl["刘洋"], ppl["周建国"], date(2026, 10, 10))
    item(session, "B-2", ppl["刘洋"], ppl["周建国"], date(2026, 9, 21))
    for holiday in (date(2026, 10, 3), date(2026, 10, 5), date(2026, 10, 11)):
        plan = plan_reminders(session, holiday, CAL, SETTINGS)
        assert not plan.workday and plan.digests == []
    plan = plan_reminders(session, date(2026, 10, 10), CAL, SETTINGS)  # Saturday, 调休 workday
    assert plan.workday
    # 21 Sep -> 10 Oct: 22, 23, 24, 28, 29, 30 Sep, 8, 9, 10 Oct = 9 working days (Mon–Fri would say 14)
    assert rungs(plan) == {
        ("刘洋", "B-1", "due_today", 0),
        ("周建国", "B-1", "due_today_cc", 0),
        ("刘洋", "B-2", "overdue_owner", 9),
        ("周建国", "B-2", "overdue_leader", 9),
    }
    plan = plan_reminders(session, date(2026, 10, 12), CAL, SETTINGS)
    assert ("陈静", "B-2", "overdue_secretary", 10) in rungs(plan)
    assert ("刘洋", "B-1", "overdue_owner", 1) in rungs(plan)
    assert not any(r[2] == "overdue_leader" and r[1] == "B-1" for r in rungs(plan))


def test_escalation_thresholds_follow_settings(session, ppl):
    item(session, "C-1", ppl["刘洋"], ppl["周建国"], date(2026, 11, 25))  # 3 working days on 30 Nov
    item(session, "C-2", ppl["刘洋"], ppl["周建国"], date(2026, 11, 26))  # 2
    plan = plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS)
    assert rungs(plan) == {
        ("刘洋", "C-1", "overdue_owner", 3),
        ("刘洋", "C-2", "overdue_owner", 2),
        ("周建国", "C-1", "overdue_leader", 3),
    }
    strict = Settings(
        _env_file=None, escalate_leader_after_days=2, escalate_secretary_after_days=3, remind_before_days=(2,)
    )
    plan = plan_reminders(session, date(2026, 11, 30), CAL, strict)
    assert {r for r in rungs(plan) if r[0] != "刘洋"} == {
        ("周建国", "C-1", "overdue_leader", 3),
        ("周建国", "C-2", "overdue_leader", 2),
        ("陈静", "C-1", "overdue_secretary", 3),
    }


def test_year_boundary_without_and_with_2027_override(session, ppl):
    item(session, "Y-1", ppl["刘洋"], ppl["周建国"], date(2027, 1, 7))
    item(session, "Y-2", ppl["孙丽"], ppl["周建国"], date(2027, 1, 8))
    item(session, "Y-3", ppl["孙丽"], ppl["吴海燕"], date(2026, 12, 28))
    fallback = WorkCalendar(None)  # 2027 is not in chinesecalendar: Monday–Friday
    plan = plan_reminders(session, date(2026, 12, 31), fallback, SETTINGS)
    assert 2027 in fallback.fallback_years
    # Mon–Fri: 1 Jan counts, so 7 Jan is 5 working days away (1, 4, 5, 6, 7)
    assert ("刘洋", "Y-1", "due_soon_5", 5) in rungs(plan)
    assert not any(r[1] == "Y-2" for r in rungs(plan))
    assert plan_reminders(session, date(2027, 1, 1), fallback, SETTINGS).workday

    official = WorkCalendar(OVERRIDE_2027)  # 1–3 Jan holidays
    plan = plan_reminders(session, date(2026, 12, 31), official, SETTINGS)
    assert ("孙丽", "Y-2", "due_soon_5", 5) in rungs(plan)  # 4, 5, 6, 7, 8 Jan
    assert not any(r[1] == "Y-1" for r in rungs(plan))
    assert not plan_reminders(session, date(2027, 1, 1), official, SETTINGS).workday
    # overdue across the boundary: 29, 30, 31 Dec, 4 Jan = 4 (Mon–Fri: 5, with 1 Jan)
    assert ("吴海燕", "Y-3", "overdue_leader", 4) in rungs(
        plan_reminders(session, date(2027, 1, 4), official, SETTINGS)
    )
    assert ("吴海燕", "Y-3", "overdue_leader", 5) in rungs(
        plan_reminders(session, date(2027, 1, 4), fallback, SETTINGS)
    )


def test_digest_is_one_email_per_person_oldest_deadline_first(session, ppl):
    owner = ppl["刘洋"]
    item(session, "D-3", owner, ppl["周建国"], date(2026, 11, 20))
    item(session, "D-1", owner, ppl["吴海燕"], date(2026, 11, 2))
    item(session, "D-2", owner, ppl["周建国"], date(2026, 11, 10), date(2026, 11, 12))
    item(session, "D-4", owner, ppl["周建国"], date(2026, 12, 7))
    plan = plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS)
    record_reminders(session, date(2026, 11, 30), plan, SETTINGS)
    session.commit()
    mails = session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
    assert sorted(m.recipient_name for m in mails) == ["刘洋", "吴海燕", "周建国", "陈静"]
    mine = next(m for m in mails if m.recipient_name == "刘洋")
    assert mine.kind == "digest" and mine.sections == "due_soon,overdue_owner"
    text = mine.body_text
    overdue = text[text.index("已逾期") :]
    assert overdue.index("D-1") < overdue.index("D-2") < overdue.index("D-3")
    assert "D-4" in text[: text.index("已逾期")]
    # HTML is autoescaped, the text part is verbatim
    assert "&lt;script&gt;" in mine.body_html and "<script>" not in mine.body_html
    assert "<script>alert(1)</script>" in text
    secretary = next(m for m in mails if m.recipient_name == "陈静")
    assert secretary.kind == "overdue_secretary" and "D-1" in secretary.body_text
    assert "D-3" not in secretary.body_text  # 20 Nov is 6 working days: below 10


def test_rerun_of_the_day_records_nothing_new(db_url, session, ppl):
    item(session, "E-1", ppl["刘洋"], ppl["周建国"], date(2026, 11, 20))
    item(session, "E-2", ppl["孙丽"], ppl["周建国"], date(2026, 12, 1))
    day = date(2026, 11, 30)
    first = record_reminders(session, day, plan_reminders(session, day, CAL, SETTINGS), SETTINGS)
    session.commit()
    assert (first.mails, first.lines) == (3, 3)
    plan = plan_reminders(session, day, CAL, SETTINGS)
    assert plan.digests == []
    again = record_reminders(session, day, plan, SETTINGS)
    session.commit()
    assert (again.mails, again.lines) == (0, 0)
    assert session.scalar(select(OutboxMail.id).order_by(OutboxMail.id.desc()).limit(1)) == 3
    # a new item due today for someone already mailed today waits: one email per day
    item(session, "E-3", ppl["刘洋"], ppl["周建国"], day)
    plan = plan_reminders(session, day, CAL, SETTINGS)
    assert [d.name for d in plan.digests] == [] and "刘洋" in plan.already_sent_to


def test_database_refuses_a_reminder_twice(session, ppl):
    """The guard is the unique constraint, not the planner: replaying a recorded line fails."""
    it = item(session, "F-1", ppl["刘洋"], ppl["周建国"], date(2026, 12, 1))
    day = date(2026, 11, 30)
    record_reminders(session, day, plan_reminders(session, day, CAL, SETTINGS), SETTINGS)
    session.commit()
    line = session.scalars(select(ReminderLine)).one()
    mail = session.get(OutboxMail, line.outbox_id)
    assert (line.rung, line.deadline, line.occurrence) == ("due_soon_1", date(2026, 12, 1), date(2026, 12, 1))
    with pytest.raises(IntegrityError):
        session.execute(
            ReminderLine.__table__.insert(),
            [
                {
                    "outbox_id": mail.id,
                    "item_id": it.id,
                    "measure_position": 0,
                    "rung": "due_soon_1",
                    "recipient_id": ppl["刘洋"].id,
                    "deadline": date(2026, 12, 1),
                    "occurrence": date(2026, 12, 1),
                    "days": 1,
                }
            ],
        )
    session.rollback()


def test_changed_deadline_restarts_the_ladder(session, ppl):
    it = item(session, "G-1", ppl["刘洋"], ppl["周建国"], date(2026, 12, 1))
    day = date(2026, 11, 30)
    record_reminders(session, day, plan_reminders(session, day, CAL, SETTINGS), SETTINGS)
    session.commit()
    # The deadline moves to 8 Dec; five working days before it is 1 Dec.
    session.execute(update(Measure).where(Measure.item_id == it.id).values(deadline=date(2026, 12, 8)))
    session.execute(update(Item).where(Item.id == it.id).values(deadline=date(2026, 12, 8)))
    session.commit()
    plan = plan_reminders(session, date(2026, 12, 1), CAL, SETTINGS)
    assert rungs(plan) == {("刘洋", "G-1", "due_soon_5", 5)}
    record_reminders(session, date(2026, 12, 1), plan, SETTINGS)
    session.commit()
    # moved back to 1 Dec: due today, a rung that deadline never had
    session.execute(update(Measure).where(Measure.item_id == it.id).values(deadline=date(2026, 12, 1)))
    session.execute(update(Item).where(Item.id == it.id).values(deadline=date(2026, 12, 1)))
    session.commit()
    plan = plan_reminders(session, date(2026, 12, 1), CAL, SETTINGS)
    # the owner had today's email already (one per day); the leader had none yet
    assert rungs(plan) == {("周建国", "G-1", "due_today_cc", 0)}
    assert plan.already_sent_to == ["刘洋"]
    assert ("刘洋", "G-1", "overdue_owner", 1) in rungs(
        plan_reminders(session, date(2026, 12, 2), CAL, SETTINGS)
    )


def test_closed_ongoing_submitted_and_unowned_items_get_nothing(session, ppl):
    owner, leader = ppl["刘洋"], ppl["周建国"]
    overdue = date(2026, 11, 2)
    item(session, "H-1", owner, leader, overdue, status=Status.closed)
    item(session, "H-2", owner, leader, overdue, status=Status.ongoing)
    item(session, "H-3", owner, leader, overdue, status=Status.submitted)
    item(session, "H-4", owner, leader, None)  # 长期坚持 measure
    unowned = item(session, "H-5", owner, leader, overdue, status=Status.new)
    session.execute(update(Item).where(Item.id == unowned.id).values(owner_id=None))
    item(session, "H-6", owner, leader, None, overdue, status=Status.new)  # one dated measure
    plan = plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS)
    assert {r[1] for r in rungs(plan)} == {"H-6"}


def test_queue_notice_is_idempotent_on_its_key(session, ppl):
    it = item(session, "N-1", ppl["刘洋"], ppl["周建国"], date(2026, 12, 31))
    kwargs = dict(
        kind="assigned",
        to=ppl["刘洋"],
        cc=[ppl["周建国"]],
        items=[it],
        day=date(2026, 11, 2),
        key="assigned:N-1:1",
    )
    first = queue_notice(session, **kwargs)
    assert first is not None and queue_notice(session, **kwargs) is None
    session.commit()
    mail = session.get(OutboxMail, first)
    assert (mail.kind, mail.status, mail.recipient_email) == ("assigned", "pending", "p3@example.gov.cn")
    assert mail.cc == [["周建国", "p1@example.gov.cn"]]
    assert "N-1" in mail.body_text and len(mail.lines) == 1


def test_an_unfinished_early_measure_past_its_deadline_makes_the_item_overdue(session, ppl):
    """Overdue is per measure (DOMAIN.md "Measures"): an unfinished measure past its date makes
    the item overdue although its latest measure is still within time; once that measure is
    done, only the later measure's heads-up is left."""
    it = item(session, "E-1", ppl["刘洋"], ppl["周建国"], date(2026, 11, 2), date(2026, 12, 1))
    found = rungs(plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS))
    assert ("刘洋", "E-1", "due_soon_1", 1) in found
    assert ("刘洋", "E-1", "overdue_owner", 20) in found  # 3 Nov … 30 Nov: 20 working days
    assert ("周建国", "E-1", "overdue_leader", 20) in found
    session.execute(
        update(Measure)
        .where(Measure.item_id == it.id, Measure.position == 0)
        .values(done_on=date(2026, 11, 27), done_note="已完成")
    )
    found = rungs(plan_reminders(session, date(2026, 11, 30), CAL, SETTINGS))
    assert found == {("刘洋", "E-1", "due_soon_1", 1)}


def test_overdue_sections_show_and_order_by_the_earliest_unfinished_measure(session, ppl):
    """Days overdue count from the earliest unfinished measure past its deadline, so the date
    shown and the order are that measure's; each entry names its measures and their lights."""
    owner = ppl["刘洋"]
    item(session, "O-1", owner, ppl["周建国"], date(2026, 11, 2), date(2026, 11, 20))
    item(session, "O-2", owner, ppl["周建国"], date(2026, 11, 10))
    day = date(2026, 11, 30)
    plan = plan_reminders(session, day, CAL, SETTINGS)
    by_name = {d.name: d for d in plan.digests}
    for name, section in (("刘洋", "overdue_owner"), ("周建国", "overdue_leader")):
        entries = by_name[name].sections[section]
        assert [(e["code"], e["deadline"], e["days_overdue"], e["light"]) for e in entries] == [
            ("O-1", date(2026, 11, 2), 20, "red"),
            ("O-2", date(2026, 11, 10), 14, "red"),
        ]
        assert [(m["number"], m["light"]) for m in entries[0]["measures"]] == [(1, "red"), (2, "red")]
    record_reminders(session, day, plan, SETTINGS)
    session.commit()
    text = session.scalars(select(OutboxMail.body_text).where(OutboxMail.recipient_name == "刘洋")).one()
    assert text.index("O-1") < text.index("O-2")
    o1 = text[text.index("【O-1】") :]
    assert o1.startswith("【O-1】【红灯】")
    assert "整改时限：2026年11月2日（已逾期20个工作日）" in o1
    assert "（2）措施2（时限：2026年11月20日，红灯）" in o1  # each measure named, with its light


def test_measures_sharing_a_deadline_are_one_reminder_and_reordering_changes_nothing(session, ppl):
    """Reminder lines are keyed by item and deadline, not by measure position: a re-import
    that reorders (replaces) measures neither resends nor suppresses a reminder."""
    it = item(
        session, "R-1", ppl["刘洋"], ppl["周建国"], date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 7)
    )
    day = date(2026, 11, 30)
    plan = plan_reminders(session, day, CAL, SETTINGS)
    assert sorted((l.rung, l.deadline) for l in plan.lines) == [
        ("due_soon_1", date(2026, 12, 1)),
        ("due_soon_5", date(2026, 12, 7)),
    ]
    (digest,) = plan.digests
    assert [m["text"] for m in digest.sections["due_soon"][0]["measures"]] == ["措施1", "措施2", "措施3"]
    record_reminders(session, day, plan, SETTINGS)
    session.commit()
    # the re-import reverses the measures: the same reminders are recognised as recorded
    old = [(m.text, m.deadline) for m in it.measures]
    for m in it.measures:  # SQLite may reuse the deleted rows' ids
        session.expunge(m)
    session.execute(Measure.__table__.delete().where(Measure.__table__.c.item_id == it.id))
    session.add_all(
        Measure(item_id=it.id, position=i, text=text, deadline=d, deadline_text=d.isoformat())
        for i, (text, d) in enumerate(old[::-1])
    )
    session.commit()
    session.expire_all()
    again = plan_reminders(session, day, CAL, SETTINGS)
    assert again.digests == [] and again.already_sent_to == []  # nothing left to send
    with pytest.raises(IntegrityError):  # and the database says so too
        session.execute(
            ReminderLine.__table__.insert(),
            [
                {
                    "outbox_id": session.scalars(select(OutboxMail.id)).one(),
                    "item_id": it.id,
                    "measure_position": 2,
                    "rung": "due_soon_5",
                    "recipient_id": ppl["刘洋"].id,
                    "deadline": date(2026, 12, 7),
                    "occurrence": date(2026, 12, 7),
                    "days": 5,
                }
            ],
        )
    session.rollback()
