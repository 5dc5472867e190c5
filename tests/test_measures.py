"""Measures done one by one, lights (亮灯) and the closure rule, on SQLite and PostgreSQL
(申请延期 is in test_measure_extensions.py).

Calendar facts used: 2026's National Day holiday is 1–7 Oct with Saturday 10 Oct a working day
(调休); 2027 comes from an override file here (元旦 1 Jan 2027 a holiday), as an office would
supply it while the package has no 2027 data.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from ledger_helpers import add_people, add_with_measures, audit_rows, refused
from ledger_helpers import people_by_name as people
from models import Status
from rectify import extensions, measures, workflow
from rectify.errors import Forbidden, InvalidInput, InvalidTransition
from rectify.queries import item_detail, list_items
from rectify.reminders import plan_reminders
from rectify.settings import Settings
from rectify.workdays import WorkCalendar

CAL = WorkCalendar()
SETTINGS = Settings(_env_file=None)


@pytest.fixture
def cal_2027(tmp_path) -> WorkCalendar:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"2027": {"holidays": ["2027-01-01"], "workdays": []}}))
    return WorkCalendar(path)


@pytest.fixture
def ledger(session_maker):
    with session_maker.begin() as s:
        add_people(s)
    return session_maker


# --- the register's words ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "已完成",
        "已整改",
        "完成",
        "整改完成",
        "已完成整改",
        "已整改到位",
        "已经完成",
        "已全部完成",
        "已完成，制度已印发",
        " 已完成。",
    ],
)
def test_cells_that_say_done(text):
    assert measures.says_done(text)


@pytest.mark.parametrize(
    "text",
    [
        "未完成",
        "尚未完成",
        "暂未完成",
        "基本完成",
        "部分完成",
        "完成60%",
        "已完成部分",
        "正在整改",
        "待完成",
        "",
        None,
        "已完成50%",
    ],
)
def test_cells_that_do_not(text):
    assert not measures.says_done(text)


# --- overdue and lights -----------------------------------------------------------------


def test_overdue_and_lights_per_measure_across_national_day(ledger):
    """On 30 Sep 2026: 10-13 is 5 working days away (8, 9, 10 (Saturday 调休), 12, 13 Oct), so
    yellow; 10-14 is 6, so green, which it would not be without the 调休 Saturday."""
    today = date(2026, 9, 30)
    with ledger.begin() as s:
        add_with_measures(s, "Y-1", date(2026, 10, 13), date(2026, 10, 14))
        add_with_measures(s, "G-1", date(2026, 10, 14))
        add_with_measures(s, "R-1", date(2026, 9, 29), date(2026, 12, 31))
        add_with_measures(s, "D-1", date(2026, 9, 29), date(2026, 12, 31), done=(1,))  # the late one is done
        add_with_measures(s, "L-1", None, status=Status.ongoing)
        add_with_measures(s, "L-2", date(2026, 9, 1), status=Status.ongoing)  # 长期坚持: never overdue
        add_with_measures(s, "C-1", date(2026, 9, 1), status=Status.closed)
        add_with_measures(s, "U-1", None, date(2026, 9, 29), status=Status.submitted)
    with ledger() as s:
        rows = {r["code"]: r for r in list_items(s, today, calendar=CAL, settings=SETTINGS)}
        assert {c: r["light"] for c, r in rows.items()} == {
            "Y-1": "yellow",
            "G-1": "green",
            "R-1": "red",
            "D-1": "green",
            "L-1": "green",
            "L-2": "green",
            "C-1": None,
            "U-1": "red",
        }
        assert {c for c, r in rows.items() if r["overdue"]} == {"R-1", "U-1"}
        assert rows["R-1"]["open_deadline"] == "2026-09-29" and rows["R-1"]["deadline"] == "2026-12-31"
        assert [r["code"] for r in list_items(s, today, overdue=True, calendar=CAL, settings=SETTINGS)] == [
            "R-1",
            "U-1",
        ]
        d = item_detail(s, "R-1", today, calendar=CAL, settings=SETTINGS)
        assert [(m["light"], m["done_on"], m["original_deadline"]) for m in d["measures"]] == [
            ("red", None, None),
            ("green", None, None),
        ]
        d = item_detail(s, "D-1", today, calendar=CAL, settings=SETTINGS)
        assert [(m["light"], m["done_on"]) for m in d["measures"]] == [
            ("green", "2026-09-10"),
            ("green", None),
        ]
        assert not d["overdue"]
        y = item_detail(s, "Y-1", today, calendar=CAL, settings=SETTINGS)
        assert [m["light"] for m in y["measures"]] == ["yellow", "green"]
        assert item_detail(s, "C-1", today, calendar=CAL, settings=SETTINGS)["light"] is None
        # the threshold is a setting
        narrow = Settings(_env_file=None, light_yellow_days=1)
        assert list_items(s, today, calendar=CAL, settings=narrow)[0]["light"] == "green"


def test_lights_and_overdue_across_the_2026_2027_boundary(ledger, cal_2027):
    """On Fri 25 Dec 2026: 28–31 Dec and 4 Jan (1 Jan is 元旦 in the override) are the 5 working
    days, so 4 Jan is yellow and 5 Jan green; on 5 Jan an unfinished 31 Dec measure is red and
    2 working days overdue in the reminders."""
    with ledger.begin() as s:
        add_with_measures(s, "B-1", date(2027, 1, 4))
        add_with_measures(s, "B-2", date(2027, 1, 5))
        add_with_measures(s, "B-3", date(2026, 12, 31), date(2027, 3, 31))
    with ledger() as s:
        lights = {
            r["code"]: r["light"]
            for r in list_items(s, date(2026, 12, 25), calendar=cal_2027, settings=SETTINGS)
        }
        assert lights == {"B-1": "yellow", "B-2": "green", "B-3": "yellow"}
        rows = list_items(s, date(2027, 1, 5), calendar=cal_2027, settings=SETTINGS)
        assert {r["code"]: (r["light"], r["overdue"]) for r in rows}["B-3"] == ("red", True)
        plan = plan_reminders(s, date(2027, 1, 5), cal_2027, SETTINGS)
        lines = {(line.code, line.rung, line.days) for line in plan.lines}
        assert ("B-3", "overdue_owner", 2) in lines  # 4 and 5 Jan
        assert date(2027, 3, 31) not in {ln.deadline for ln in plan.lines}
    # 元旦 2027 is not a working day by the override: no extension to it
    with ledger() as s:
        with pytest.raises(InvalidInput, match="2027-01-01 不是工作日"):
            extensions.request(
                s,
                "B-3",
                1,
                people(s)["刘洋"],
                date(2026, 12, 25),
                to=date(2027, 1, 1),
                reason="节后完成",
                calendar=cal_2027,
            )


# --- marking measures done ----------------------------------------------------------------


def test_owner_and_leader_mark_measures_done_audited(db_url, ledger):
    day = date(2026, 11, 30)
    with ledger.begin() as s:
        add_with_measures(s, "M-1", date(2026, 11, 9), date(2026, 12, 31))
    with ledger.begin() as s:
        p = people(s)
        measures.mark_done(s, "M-1", 1, p["刘洋"], day, note="  推送机制已建立 ")
        measures.mark_done(s, "M-1", 2, p["周建国"], day, note="方案已印发")
    with ledger() as s:
        item = workflow.get_item(s, "M-1")
        assert [(m.done_on, m.done_by_id, m.done_note) for m in item.measures] == [
            (day, people(s)["刘洋"].id, "推送机制已建立"),
            (day, people(s)["周建国"].id, "方案已印发"),
        ]
        recs = [(r.action, r.actor, r.comment, r.details) for r in audit_rows(s, item)]
        assert recs == [
            ("measure_done", "刘洋", "推送机制已建立", {"measure": 1, "text": "措施1"}),
            ("measure_done", "周建国", "方案已印发", {"measure": 2, "text": "措施2"}),
        ]


@pytest.mark.parametrize(
    "who,number,note,exc,match",
    [
        ("孙丽", 1, "完成", Forbidden, "不是事项 M-1 的责任人或责任领导"),
        ("陈静", 1, "完成", Forbidden, "不是事项 M-1 的责任人或责任领导"),
        ("刘洋", 3, "完成", InvalidInput, "共有2条整改措施，没有第3条"),
        ("刘洋", 0, "完成", InvalidInput, "没有第0条"),
        ("刘洋", 1, "  ", InvalidTransition, "完成情况说明不能为空"),
        ("刘洋", 2, "再次", InvalidTransition, "第2条措施已于 2026-09-10 完成"),
    ],
)
def test_marking_done_refusals_change_nothing(db_url, ledger, who, number, note, exc, match):
    with ledger.begin() as s:
        add_with_measures(s, "M-1", date(2026, 11, 9), date(2026, 12, 31), done=(2,))
    refused(
        db_url,
        ledger,
        lambda s, p: measures.mark_done(s, "M-1", number, p[who], date(2026, 11, 30), note=note),
        exc,
        match,
    )


def test_marking_done_on_a_closed_item_is_refused(db_url, ledger):
    with ledger.begin() as s:
        add_with_measures(s, "C-1", date(2026, 11, 9), status=Status.closed)
    refused(
        db_url,
        ledger,
        lambda s, p: measures.mark_done(s, "C-1", 1, p["刘洋"], date(2026, 11, 30), note="完成"),
        InvalidTransition,
        "已销号",
    )


# --- the closure rule -------------------------------------------------------------------


def test_submission_needs_every_dated_measure_done_or_done_by_it(db_url, ledger):
    day = date(2026, 11, 30)
    with ledger.begin() as s:
        add_with_measures(s, "S-1", date(2026, 11, 9), None, date(2026, 12, 31))  # 2: 长期坚持, not required
    line = refused(
        db_url,
        ledger,
        lambda s, p: workflow.submit(s, "S-1", p["刘洋"], day, summary="完成"),
        InvalidTransition,
        "尚有整改措施未完成",
    )
    assert "第1条“措施1”（时限 2026-11-09）；第3条“措施3”（时限 2026-12-31）" in line
    refused(
        db_url,
        ledger,
        lambda s, p: workflow.submit(s, "S-1", p["刘洋"], day, summary="完成", completes=[1]),
        InvalidTransition,
        "第3条“措施3”",
    )
    refused(
        db_url,
        ledger,
        lambda s, p: workflow.submit(s, "S-1", p["刘洋"], day, summary="完成", completes=[4]),
        InvalidInput,
        "没有第4条",
    )
    with ledger.begin() as s:
        measures.mark_done(s, "S-1", 1, people(s)["刘洋"], day, note="已推送")
    with ledger.begin() as s:
        workflow.submit(s, "S-1", people(s)["周建国"], day, summary="全部完成", completes=[3])
    with ledger() as s:
        item = workflow.get_item(s, "S-1")
        assert item.status is Status.leader_review  # the leader's sign-off comes next
        assert [(m.done_on, m.done_note) for m in item.measures] == [
            (day, "已推送"),
            (None, ""),
            (day, "全部完成"),
        ]
        submit = audit_rows(s, item)[-1]
        assert (submit.action, submit.actor, submit.details) == (
            "submit",
            "周建国",
            {"evidence": [], "completes": [3]},
        )


def test_report_queries_count_measures_as_of_a_day(ledger):
    with ledger.begin() as s:
        item = add_with_measures(s, "N-1", date(2026, 11, 9), date(2026, 12, 31))
        workflow.record(s, item, "系统", date(2026, 11, 2), "import")
    with ledger.begin() as s:
        measures.mark_done(s, "N-1", 1, people(s)["刘洋"], date(2026, 11, 20), note="完成")
    with ledger() as s:
        assert measures.measure_counts(s, date(2026, 11, 1)) == (0, 0)
        assert measures.measure_counts(s, date(2026, 11, 19)) == (2, 0)
        assert measures.measure_counts(s, date(2026, 11, 20)) == (2, 1)
        assert measures.open_deadlines_as_of(s, date(2026, 11, 19)) == {item.id: date(2026, 11, 9)}
        assert measures.open_deadlines_as_of(s, date(2026, 11, 20)) == {item.id: date(2026, 12, 31)}


def test_the_form_description_shows_the_item_and_each_measure_light(sqlite_url, monkeypatch):
    """DOMAIN.md "Lights": the waiting forms show them too (rectify.describe)."""
    from ledger_helpers import add_item, add_people
    from models import Measure, Status
    from models.db import session_factory
    from rectify.describe import describe_item
    from rectify.settings import get_settings

    monkeypatch.setenv("RECTIFY_TODAY", "2026-11-30")
    get_settings.cache_clear()
    try:
        with session_factory(sqlite_url).begin() as s:
            people = add_people(s)
            item = add_item(
                s,
                "L-1",
                Status.in_progress,
                owner=people["刘洋"],
                leader=people["周建国"],
                deadline=date(2026, 12, 31),
            )
            item.measures.append(
                Measure(position=1, text="立行立改", deadline=date(2026, 11, 9), deadline_text="立行立改")
            )
            s.flush()
            text = describe_item(item)
        assert "亮灯：红灯" in text  # its 11-09 measure is late on 11-30
        assert "1. 措施一（2026-12-31） 未完成 绿灯" in text and "2. 立行立改（立行立改） 未完成 红灯" in text
    finally:
        get_settings.cache_clear()
