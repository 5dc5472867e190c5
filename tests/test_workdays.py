import json
import logging
import time
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rectify.workdays import CalendarError, WorkCalendar, get_calendar

EXAMPLE = Path(__file__).resolve().parents[1] / "rectify" / "data" / "calendar-2027.example.json"


@pytest.fixture
def cal():
    return WorkCalendar()


def _days(start: date, end: date):
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


# --- 调休 in 2026 -------------------------------------------------------------------


@pytest.mark.parametrize("d", [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 10, 10)])
def test_2026_weekend_working_days(cal, d):
    assert d.weekday() >= 5
    assert cal.is_workday(d)


def test_2026_national_day_and_spring_festival_are_holidays(cal):
    assert not any(cal.is_workday(d) for d in _days(date(2026, 10, 1), date(2026, 10, 7)))
    assert not any(cal.is_workday(d) for d in _days(date(2026, 2, 15), date(2026, 2, 23)))
    assert cal.is_workday(date(2026, 10, 8)) and cal.is_workday(date(2026, 2, 24))


def test_matches_chinese_calendar_for_every_covered_day(cal):
    for d in _days(date(2004, 1, 1), date(2026, 12, 31)):
        assert cal.is_workday(d) == chinese_calendar.is_workday(d), d


def test_ordinary_days(cal):
    assert cal.is_workday(date(2026, 11, 27))  # Friday
    assert not cal.is_workday(date(2026, 11, 28))  # Saturday
    assert not cal.is_workday(date(2026, 11, 29))


# --- add_workdays ---------------------------------------------------------------------


def test_add_workdays_across_national_day(cal):
    # 9-30 (Wed) is a working day; the next ones are 10-8 (Thu), 10-9 (Fri), 10-10 (调休 Sat).
    assert cal.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert cal.add_workdays(date(2026, 10, 3), 1) == date(2026, 10, 8)


def test_add_workdays_across_spring_festival(cal):
    # 2-13 Fri, 2-14 调休 Sat, then holiday until 2-23.
    assert cal.add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.add_workdays(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_add_workdays_zero_and_negative(cal):
    assert cal.add_workdays(date(2026, 11, 28), 0) == date(2026, 11, 28)
    assert cal.add_workdays(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert cal.previous_workday(date(2026, 1, 5)) == date(2026, 1, 4)  # the 调休 Sunday
    assert cal.next_workday(date(2026, 11, 27)) == date(2026, 11, 30)


def test_add_workdays_across_year_boundary_fallback(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="rectify.calendar"):
        # 2026-12-31 Thu; 2027 has no data, so 1-1 (Fri) counts as a working day.
        assert cal.add_workdays(date(2026, 12, 30), 2) == date(2027, 1, 1)
        assert cal.add_workdays(date(2026, 12, 31), 3) == date(2027, 1, 5)
        assert cal.previous_workday(date(2027, 1, 1)) == date(2026, 12, 31)


def test_add_workdays_across_year_boundary_with_override():
    cal = WorkCalendar(EXAMPLE)
    assert cal.add_workdays(date(2026, 12, 31), 1) == date(2027, 1, 4)  # 1-1..1-3 off
    assert cal.previous_workday(date(2027, 1, 4)) == date(2026, 12, 31)
    assert cal.workdays_between(date(2026, 12, 30), date(2027, 1, 4)) == 2
    assert cal.fallback_years == set()


# --- fallback and override ------------------------------------------------------------


def test_fallback_year_is_monday_to_friday_and_warned_once(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="rectify.calendar"):
        for d in _days(date(2027, 1, 1), date(2027, 12, 31)):
            assert cal.is_workday(d) == (d.weekday() < 5)
        cal.add_workdays(date(2027, 3, 1), 40)
        cal.workdays_between(date(2026, 6, 1), date(2027, 6, 1))
    warnings = [r for r in caplog.records if r.name == "rectify.calendar"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "2027年" in warnings[0].getMessage() and "RECTIFY_CALENDAR_OVERRIDE" in warnings[0].getMessage()
    assert cal.fallback_years == {2027}


def test_covered_year_does_not_warn(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="rectify.calendar"):
        cal.add_workdays(date(2026, 1, 1), 100)
    assert not caplog.records and cal.fallback_years == set()


def test_override_json_supplies_2027(tmp_path, caplog):
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"_note": "x", "2027": {"holidays": ["2027-02-08"], "workdays": ["2027-01-31"]}}))
    cal = WorkCalendar(f)
    with caplog.at_level(logging.WARNING, logger="rectify.calendar"):
        assert cal.is_workday(date(2027, 1, 31))  # a 调休 Sunday
        assert not cal.is_workday(date(2027, 2, 8))  # a Monday off
        assert cal.is_workday(date(2027, 2, 9))
        assert not cal.is_workday(date(2027, 1, 30))
    assert not caplog.records and cal.fallback_years == set()


def test_override_replaces_a_covered_year(tmp_path):
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"2026": {"holidays": [], "workdays": []}}))
    cal = WorkCalendar(f)
    assert cal.is_workday(date(2026, 10, 1)) and not cal.is_workday(date(2026, 10, 10))
    assert not WorkCalendar().is_workday(date(2026, 10, 1))


@pytest.mark.parametrize(
    "content",
    [
        "date,type\n2027-01-31,workday\n2027-02-08,holiday\n",
        "2027-01-31,班\n\n2027-02-08,休\n",
        "日期,类型\n2027-01-31,班\n2027-02-08,休\n",
    ],
)
def test_override_csv(tmp_path, content):
    f = tmp_path / "cal.csv"
    f.write_text(content, encoding="utf-8")
    cal = WorkCalendar(f)
    assert cal.is_workday(date(2027, 1, 31)) and not cal.is_workday(date(2027, 2, 8))


def test_example_override_file_is_valid():
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert "_note" in doc
    cal = WorkCalendar(EXAMPLE)
    assert not any(cal.is_workday(d) for d in _days(date(2027, 10, 1), date(2027, 10, 7)))
    assert cal.is_workday(date(2027, 10, 9))  # 调休 Saturday


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("a.json", "{not json", "JSON"),
        ("b.json", '["2027-01-01"]', "顶层"),
        ("c.json", '{"27": {"holidays": []}}', "27"),
        ("d.json", '{"2027": {"holidays": ["2027-02-30"]}}', "2027-02-30"),
        ("e.json", '{"2027": {"holidays": "2027-01-01"}}', "holidays"),
        ("f.json", '{"2027": {"holidays": ["2026-01-01"]}}', "2026-01-01"),
        ("g.json", '{"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}}', "同时"),
        ("h.json", '{"2027": {"holiday": []}}', "holidays"),
        ("i.csv", "date,type\n2027-01-31,maybe\n", "maybe"),
        ("j.csv", "date,type\nsoon,休\n", "soon"),
        ("k.csv", "date,type\n2027-01-31\n", "第2行"),
        ("l.csv", "date,kind\n2027-01-31,休\n", "表头"),
    ],
)
def test_malformed_override(tmp_path, name, content, needle):
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarError) as exc:
        WorkCalendar(f)
    msg = str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert "\n" not in msg and str(f) in msg and needle in msg


def test_missing_override_file(tmp_path):
    with pytest.raises(CalendarError, match="无法读取"):
        WorkCalendar(tmp_path / "nope.json")


def test_get_calendar_is_cached_per_path(tmp_path):
    f = tmp_path / "cal.json"
    f.write_text('{"2027": {}}')
    assert get_calendar() is get_calendar(None)
    assert get_calendar(f) is get_calendar(str(f))
    assert get_calendar(f) is not get_calendar()


# --- counting ---------------------------------------------------------------------------


def test_workdays_between(cal):
    # Overdue count: deadline 11-27 (Fri), today 11-30 (Mon) = 1 working day overdue.
    assert cal.workdays_between(date(2026, 11, 27), date(2026, 11, 30)) == 1
    assert cal.workdays_between(date(2026, 11, 27), date(2026, 11, 29)) == 0
    assert cal.workdays_between(date(2026, 11, 27), date(2026, 11, 27)) == 0
    assert cal.workdays_between(date(2026, 11, 30), date(2026, 11, 27)) == 0
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert (
        cal.workdays_between(date(2025, 12, 31), date(2026, 12, 31)) == 248
    )  # chinese_calendar.get_workdays agrees


def test_workdays_until(cal):
    # Today Sat 11-28, deadline Fri 12-4: Mon..Fri = 5, the deadline day counts.
    assert cal.workdays_until(date(2026, 11, 28), date(2026, 12, 4)) == 5
    assert cal.workdays_until(date(2026, 12, 3), date(2026, 12, 4)) == 1
    assert cal.workdays_until(date(2026, 12, 4), date(2026, 12, 4)) == 0
    assert cal.workdays_until(date(2026, 12, 5), date(2026, 12, 4)) == 0
    assert cal.workdays_until(date(2026, 12, 4), date(2026, 12, 6)) == 0  # weekend deadline


_dates = st.dates(date(2004, 1, 1), date(2028, 12, 31))


@settings(max_examples=300, deadline=None)
@given(d=_dates, n=st.integers(1, 600))
def test_add_workdays_property(d, n):
    cal = get_calendar()
    r = cal.add_workdays(d, n)
    assert r > d and cal.is_workday(r)
    assert cal.workdays_between(d, r) == n
    assert cal.workdays_between(d, r - timedelta(days=1)) == n - 1
    if cal.is_workday(d):
        assert cal.add_workdays(r, -n) == d


@settings(max_examples=300, deadline=None)
@given(a=_dates, span=st.integers(0, 120))
def test_workdays_between_matches_brute_force(a, span):
    cal = get_calendar()
    b = a + timedelta(days=span)
    expected = sum(cal.is_workday(a + timedelta(days=i)) for i in range(1, span + 1))
    assert cal.workdays_between(a, b) == cal.workdays_until(a, b) == expected


def test_fast_enough():
    cal = WorkCalendar()
    start = date(2026, 1, 1)
    items = [(start + timedelta(days=i % 330), i % 40) for i in range(100_000)]
    today = date(2026, 11, 28)
    t0 = time.process_time()
    for d, n in items:
        due = cal.add_workdays(d, n)
        cal.workdays_until(today, due)
        cal.workdays_between(due, today)
        cal.is_workday(due)
    # Each call is a lookup or a bisect. This process's CPU time, not the wall clock: on a busy
    # machine (load 28, four pytest workers) the wall clock took 5 s for well under 1 s of CPU.
    assert time.process_time() - t0 < 3


def test_fallback_is_said_once_for_a_span_of_missing_years(cal, caplog):
    # A deadline years away used to print one warning per uncovered year it walked through.
    with caplog.at_level(logging.WARNING, logger="rectify.calendar"):
        cal.workdays_between(date(2026, 11, 30), date(2036, 12, 31))
        cal.add_workdays(date(2040, 1, 1), 5)
    warnings = [r for r in caplog.records if r.name == "rectify.calendar"]
    assert len(warnings) == 1 and "不再逐年提示" in warnings[0].getMessage()
    assert cal.fallback_years >= set(range(2027, 2037)) | {2040}


def test_calendar_error_is_a_rectify_error(tmp_path):
    from rectify.errors import RectifyError
    from rectify.workdays import CalendarError

    with pytest.raises(RectifyError, match="日历覆盖文件 .* 有误：无法读取"):
        WorkCalendar(tmp_path / "missing.json")
    assert issubclass(CalendarError, ValueError)
