"""定期报送 (rectify.periods, rectify.reporting and the sweep's report section), on SQLite and
PostgreSQL.

Real 2026 calendar days: National Day is a holiday Thu 1 Oct – Wed 7 Oct (Sat 10 Oct a 调休
working day), so the monthly due day 5 Oct moves to Thu 8 Oct and its eve is Wed 30 Sep.
November: 5 Nov is a Thursday; 5 Dec a Saturday (moves to Mon 7 Dec, eve Fri 4 Dec).
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from models import Item, Measure, Person, ProgressNote, ReminderLine, Role, Status
from rectify.errors import InvalidInput
from rectify.periods import (
    Cadence,
    add_months,
    current_period,
    last_closed_period,
    parse_register_word,
    parse_setting,
    reminder_rung,
)
from rectify.digest_render import render_digest
from rectify.reminders import plan_reminders, record_reminders
from rectify.reporting import is_unreported, unreported_items
from rectify.settings import Settings
from rectify.workdays import WorkCalendar

CAL = WorkCalendar(None)
MONTHLY = Settings(_env_file=None, reporting="monthly:5")
WEEKLY = Settings(_env_file=None, reporting="weekly:5")
MONTHLY5 = Cadence("monthly", 5)


def test_periods_move_a_holiday_due_day_to_the_next_working_day():
    p = current_period(MONTHLY5, date(2026, 9, 30), CAL)
    assert (p.nominal, p.due, p.start) == (date(2026, 10, 5), date(2026, 10, 8), date(2026, 9, 7))
    assert p.moved  # 5 Sep 2026 is a Saturday too: the period starts on Mon 7 Sep
    assert reminder_rung(p, date(2026, 9, 30), CAL) == "report_soon"  # the eve: before the holiday
    assert reminder_rung(p, date(2026, 10, 8), CAL) == "report_today"
    assert reminder_rung(p, date(2026, 10, 7), CAL) is None  # a holiday: nothing
    assert reminder_rung(p, date(2026, 9, 29), CAL) is None
    assert last_closed_period(MONTHLY5, date(2026, 10, 9), CAL).due == date(2026, 10, 8)
    assert last_closed_period(MONTHLY5, date(2026, 10, 8), CAL).due == date(2026, 9, 7)
    weekly = current_period(Cadence("weekly", 5), date(2026, 11, 26), CAL)
    assert (weekly.start, weekly.due) == (date(2026, 11, 20), date(2026, 11, 27))
    quarterly = current_period(Cadence("quarterly", 5), date(2026, 11, 30), CAL)
    assert (quarterly.start, quarterly.due) == (date(2026, 10, 8), date(2027, 1, 5))
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


@pytest.mark.parametrize("text", ["monthly", "monthly:0", "weekly:8", "daily:1", "monthly:x"])
def test_bad_setting_is_one_chinese_line(text):
    if text == "monthly":
        assert parse_setting(text) == Cadence("monthly", 5)
        return
    with pytest.raises(InvalidInput, match="RECTIFY_REPORTING"):
        parse_setting(text)
    assert parse_setting("off") is None


def test_register_words():
    assert [parse_register_word(w) for w in ("每月", "每周", "每季度", "", "不需报送")] == [
        "monthly",
        "weekly",
        "quarterly",
        None,
        "off",
    ]
    with pytest.raises(ValueError, match="汇报频次"):
        parse_register_word("每天")


def _people(session) -> dict[str, Person]:
    out = {}
    for i, (name, role) in enumerate(
        [("陈静", Role.secretary), ("周建国", Role.leader), ("刘洋", Role.owner), ("孙丽", Role.owner)]
    ):
        out[name] = Person(name=name, email=f"p{i}@example.gov.cn", role=role)
        session.add(out[name])
    session.flush()
    return out


def _item(
    session,
    code,
    owner,
    leader,
    *,
    status=Status.in_progress,
    deadline=date(2027, 6, 30),
    registered=date(2026, 9, 1),
    reporting=None,
) -> Item:
    it = Item(
        code=code,
        description=f"问题{code}",
        department="办公室",
        status=status,
        owner_id=owner.id if owner else None,
        leader_id=leader.id,
        deadline=deadline,
        register_date=registered,
        deadline_changed_on=registered,
        reporting=reporting,
    )
    it.measures = [
        Measure(
            position=0,
            text="措施一",
            deadline=deadline,
            deadline_text=deadline.isoformat() if deadline else "长期坚持",
        )
    ]
    session.add(it)
    session.flush()
    return it


def _note(session, item, day):
    session.add(ProgressNote(item_id=item.id, author_id=item.owner_id, day=day, note="进展"))
    session.flush()


def _report_lines(plan):
    return {
        (d.name, line.code, line.rung)
        for d in plan.digests
        for line in d.lines
        if line.rung.startswith("report_")
    }


def test_monthly_reminders_before_and_on_a_moved_due_day(session):
    p = _people(session)
    owner, other, leader = p["刘洋"], p["孙丽"], p["周建国"]
    _item(session, "R-1", owner, leader)  # owes a note
    _item(session, "R-2", owner, leader, status=Status.ongoing, deadline=None)  # 长期坚持 too
    noted = _item(session, "R-3", other, leader)
    _note(session, noted, date(2026, 9, 10))  # reported this period
    _item(session, "R-4", other, leader, registered=date(2026, 9, 20))  # registered mid-period
    _item(session, "R-5", None, leader, status=Status.new)  # nobody to report
    _item(session, "R-6", other, leader, status=Status.submitted)  # closure under review
    _item(session, "R-7", other, leader, status=Status.closed)
    session.commit()

    eve = plan_reminders(session, date(2026, 9, 30), CAL, MONTHLY)
    assert _report_lines(eve) == {("刘洋", "R-1", "report_soon"), ("刘洋", "R-2", "report_soon")}
    digest = next(d for d in eve.digests if d.name == "刘洋")
    render_digest(digest, MONTHLY)
    assert "定期报送（每月5日前）" in digest.text and "报送截止：2026年10月8日" in digest.text
    assert "待报送进展2项" in digest.subject
    record_reminders(session, eve.day, eve, MONTHLY)
    session.commit()
    assert plan_reminders(session, date(2026, 9, 30), CAL, MONTHLY).digests == []  # never twice

    for holiday in (date(2026, 10, 1), date(2026, 10, 5)):  # nothing on the nominal day off
        assert plan_reminders(session, holiday, CAL, MONTHLY).digests == []
    _note(session, session.get(Item, 2), date(2026, 10, 8))  # R-2 reports on the due day
    session.commit()
    due = plan_reminders(session, date(2026, 10, 8), CAL, MONTHLY)
    assert _report_lines(due) == {("刘洋", "R-1", "report_today")}
    record_reminders(session, due.day, due, MONTHLY)
    session.commit()
    lines = session.scalars(
        select(ReminderLine).where(ReminderLine.rung.like("report_%")).order_by(ReminderLine.id)
    ).all()
    assert [(ln.rung, ln.deadline, ln.occurrence) for ln in lines] == [
        ("report_soon", date(2026, 10, 8), date(2026, 10, 8))
    ] * 2 + [("report_today", date(2026, 10, 8), date(2026, 10, 8))]
    assert plan_reminders(session, date(2026, 10, 9), CAL, MONTHLY).digests == []  # not after

    # 未按时报送 as of the day after: only R-1; a late note does not undo it, the next period
    # judges anew (and R-4, registered mid-September, owes its first note for 5 Nov).
    assert [
        r["code"] for r in unreported_items(session, date(2026, 10, 9), settings=MONTHLY, calendar=CAL)
    ] == ["R-1"]
    _note(session, session.get(Item, 1), date(2026, 10, 9))
    assert is_unreported(session, "R-1", date(2026, 10, 12), settings=MONTHLY, calendar=CAL)
    assert not is_unreported(session, "R-3", date(2026, 10, 12), settings=MONTHLY, calendar=CAL)
    november = unreported_items(session, date(2026, 11, 6), settings=MONTHLY, calendar=CAL)
    assert [(r["code"], r["report_due"], r["owner"]) for r in november] == [
        ("R-2", "2026-11-05", "刘洋"),
        ("R-3", "2026-11-05", "孙丽"),
        ("R-4", "2026-11-05", "孙丽"),
    ]


def test_weekly_setting_and_per_item_cadence(session):
    p = _people(session)
    owner, other, leader = p["刘洋"], p["孙丽"], p["周建国"]
    _item(session, "W-1", owner, leader)  # the setting: weekly
    _item(session, "W-2", other, leader, reporting="monthly")  # 汇报频次 每月
    _item(session, "W-3", other, leader, reporting="off")  # 不需报送
    session.commit()
    thursday = plan_reminders(session, date(2026, 11, 26), CAL, WEEKLY)
    assert _report_lines(thursday) == {("刘洋", "W-1", "report_soon")}
    friday = plan_reminders(session, date(2026, 11, 27), CAL, WEEKLY)
    assert _report_lines(friday) == {("刘洋", "W-1", "report_today")}
    # the monthly item under a weekly setting keeps its own customary day (5 Dec -> Mon 7 Dec)
    # (Fri 4 Dec is also W-1's weekly due day)
    assert _report_lines(plan_reminders(session, date(2026, 12, 4), CAL, WEEKLY)) == {
        ("孙丽", "W-2", "report_soon"),
        ("刘洋", "W-1", "report_today"),
    }
    # off: no reporting at all, except what the register asks per item
    off = Settings(_env_file=None, reporting="off")
    assert _report_lines(plan_reminders(session, date(2026, 11, 27), CAL, off)) == set()
    assert _report_lines(plan_reminders(session, date(2026, 12, 7), CAL, off)) == {
        ("孙丽", "W-2", "report_today")
    }


def test_report_section_joins_the_one_daily_digest(session):
    """An owner with a due-soon measure and a missing note gets one email with both sections."""
    p = _people(session)
    _item(session, "D-1", p["刘洋"], p["周建国"], deadline=date(2026, 10, 8))  # 1 working day left
    session.commit()
    plan = plan_reminders(session, date(2026, 9, 30), CAL, MONTHLY)
    assert [(d.name, list(d.sections)) for d in plan.digests] == [("刘洋", ["due_soon", "report"])]


def test_list_unreported_on_the_command_line(db_url, session, settings_env, monkeypatch, tmp_path):
    from rectify.cli import app

    p = _people(session)
    _item(session, "L-1", p["刘洋"], p["周建国"])
    _note(session, _item(session, "L-2", p["孙丽"], p["周建国"]), date(2026, 10, 20))
    session.commit()
    monkeypatch.chdir(tmp_path)
    settings_env(db_url, today="2026-11-30")
    runner = CliRunner()
    result = runner.invoke(app, ["list", "--unreported", "--json", "--today", "2026-11-06"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["code"], r["unreported"], r["report_due"]) for r in rows] == [("L-1", True, "2026-11-05")]
    text = runner.invoke(app, ["list", "--today", "2026-11-06"]).stdout
    assert "整改中·未按时报送" in text and "未按时报送1项" in text
    shown = json.loads(runner.invoke(app, ["show", "L-2", "--json", "--today", "2026-11-06"]).stdout)
    assert (shown["unreported"], shown["report_due"]) == (False, None)
    settings_env(db_url, today="2026-11-30", reporting="daily")
    bad = runner.invoke(app, ["list", "--unreported"])
    assert bad.exit_code != 0 and "RECTIFY_REPORTING" in bad.output and "Traceback" not in bad.output
