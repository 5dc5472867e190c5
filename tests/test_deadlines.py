import calendar as monthcal
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils.datetime import to_excel

from rectify.deadlines import Deadline, DeadlineError, format_deadline, parse_deadline
from rectify.workdays import WorkCalendar

CAL = WorkCalendar()
REG = date(2026, 11, 28)  # a Saturday


def due(value, register_date=REG, **kw):
    return parse_deadline(value, register_date, CAL, **kw).due


@pytest.mark.parametrize(
    "text",
    [
        "2021-12-31",
        "2021/12/31",
        "2021.12.31",
        "2021年12月31日",
        "2021-12-31前",
        "2021/12/31之前",
        "2021.12.31以前",
        "2021年12月31日前",
        "2021年12月31日之前",
        "２０２１年１２月３１日",
        "２０２１／１２／３１",
        " 2021 年 12 月 31 日 ",
        "2021\u3000年12月31日前",
        "2021-12-31 00:00:00",
        "2021年12月31号",
    ],
)
def test_dates(text):
    dl = parse_deadline(text, REG, CAL)
    assert dl == Deadline(date(2021, 12, 31), False, text.strip())


@pytest.mark.parametrize(
    "text", ["2022-3-5", "2022/3/5", "2022.3.5", "2022年3月5日", "2022-03-05", "2022年03月05日前"]
)
def test_single_digit_month_and_day(text):
    assert due(text) == date(2022, 3, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021年12月底前", date(2021, 12, 31)),
        ("2021年12月底", date(2021, 12, 31)),
        ("2021年12月末", date(2021, 12, 31)),
        ("2024年2月底前", date(2024, 2, 29)),
        ("2023年2月末前", date(2023, 2, 28)),
        ("12月底前", date(2026, 12, 31)),
        ("6月底", date(2026, 6, 30)),
        ("9月末", date(2026, 9, 30)),
        ("2月底之前", date(2026, 2, 28)),
    ],
)
def test_month_end(text, expected):
    assert due(text) == expected


def test_month_end_year_from_register_date():
    assert due("2月底前", register_date=date(2024, 1, 10)) == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021年底前", date(2021, 12, 31)),
        ("2021年底", date(2021, 12, 31)),
        ("2021年年底前", date(2021, 12, 31)),
        ("2021年年底", date(2021, 12, 31)),
        ("年底前", date(2026, 12, 31)),
        ("年底", date(2026, 12, 31)),
        ("年底之前", date(2026, 12, 31)),
    ],
)
def test_year_end(text, expected):
    assert due(text) == expected


def test_year_end_year_from_register_date():
    assert due("年底前", register_date=datetime(2022, 3, 1, 9, 30)) == date(2022, 12, 31)


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("5个工作日内", 5),
        ("１０个工作日内", 10),
        ("十个工作日内", 10),
        ("十五个工作日内", 15),
        ("二十个工作日内", 20),
        ("九十九个工作日内", 99),
        ("三个工作日内", 3),
        ("两个工作日内", 2),
        ("30个工作日以内", 30),
    ],
)
def test_working_days_phrase(text, n):
    dl = parse_deadline(text, REG, CAL)
    assert dl.due == CAL.add_workdays(REG, n) and not dl.ongoing and dl.text == text


def test_working_days_count_from_register_date():
    # Registered Wed 2026-09-30: 1st working day after is 10-8 (National Day), 3rd is 调休 Sat 10-10.
    assert due("3个工作日内", register_date=date(2026, 9, 30)) == date(2026, 10, 10)
    assert due("5个工作日内") == date(2026, 12, 4)  # registered on a Saturday


def test_immediate():
    assert due("立行立改") == date(2026, 12, 4)
    assert due("立行立改", immediate_days=1) == date(2026, 11, 30)
    assert due(" 立行立改 ", register_date=date(2026, 9, 30)) == date(2026, 10, 13)


@pytest.mark.parametrize("text", ["长期坚持", "长期", " 长期坚持 ", "长 期 坚 持"])
def test_ongoing(text):
    dl = parse_deadline(text, REG, CAL)
    assert dl.due is None and dl.ongoing and dl.text == text.strip()
    assert format_deadline(dl) == "长期坚持"


def test_excel_date_cells():
    assert parse_deadline(datetime(2021, 12, 31), REG, CAL) == Deadline(
        date(2021, 12, 31), False, "2021-12-31"
    )
    assert due(datetime(2021, 12, 31, 17, 30)) == date(2021, 12, 31)
    assert due(date(2027, 1, 15)) == date(2027, 1, 15)
    assert due(44561) == date(2021, 12, 31)
    assert due(44561.0) == date(2021, 12, 31)
    assert due(44561.75) == date(2021, 12, 31)
    assert parse_deadline(44561, REG, CAL).text == "2021-12-31"


@pytest.mark.parametrize("value", [None, "", "   ", "\u3000"])
def test_empty(value):
    with pytest.raises(DeadlineError) as exc:
        parse_deadline(value, REG, CAL)
    assert str(exc.value) == "整改时限为空"


@pytest.mark.parametrize(
    "value",
    [
        "下个月",
        "尽快",
        "2021-12",
        "2021年12月",
        "21-12-31",
        "2021-12/31",
        "0个工作日内",
        "一百个工作日内",
        "一二个工作日内",
        "5个工作日",
        "持续推进",
        "长期坚持下去",
        "2021年12月31日后",
        "abc",
    ],
)
def test_garbage(value):
    with pytest.raises(DeadlineError) as exc:
        parse_deadline(value, REG, CAL)
    assert str(exc.value) == f"无法识别的整改时限“{value}”"
    assert exc.value.text == value


@pytest.mark.parametrize(
    "value", ["2021-02-30", "2021/13/01", "2021年2月29日", "2021.04.31前", "2021-00-10", "13月底前", "0月底"]
)
def test_impossible_dates(value):
    with pytest.raises(DeadlineError, match="不是有效日期") as exc:
        parse_deadline(value, REG, CAL)
    assert f"“{value}”" in str(exc.value)


@pytest.mark.parametrize("value", [True, 0, -5, float("nan"), 1e12, ["2021-12-31"]])
def test_bad_cell_types(value):
    with pytest.raises(DeadlineError):
        parse_deadline(value, REG, CAL)


def test_deadline_error_is_value_error():
    assert issubclass(DeadlineError, ValueError)


def test_format_deadline():
    assert format_deadline(Deadline(date(2026, 12, 31), False, "年底前")) == "2026-12-31"


# --- round trip: every written form of a date parses back to that day --------------------

_FULL_WIDTH = str.maketrans("0123456789/.-", "０１２３４５６７８９／．－")


def _forms(d: date) -> list[str]:
    y, m, dd = d.year, d.month, d.day
    return [
        d.isoformat(),
        f"{y}-{m}-{dd}",
        f"{y}/{m:02}/{dd:02}",
        f"{y}/{m}/{dd}",
        f"{y}.{m:02}.{dd:02}",
        f"{y}.{m}.{dd}",
        f"{y}年{m}月{dd}日",
        f"{y}年{m:02}月{dd:02}日",
    ]


@settings(max_examples=200, deadline=None)
@given(
    d=st.dates(date(2016, 1, 1), date(2036, 12, 31)),  # REG's year ± YEAR_WINDOW
    suffix=st.sampled_from(["", "前", "之前", "以前"]),
    full_width=st.booleans(),
    pad=st.sampled_from(["", " ", "\u3000"]),
)
def test_written_dates_round_trip(d, suffix, full_width, pad):
    for form in _forms(d):
        text = pad + form + suffix + pad
        if full_width:
            text = text.translate(_FULL_WIDTH)
        dl = parse_deadline(text, REG, CAL)
        assert dl.due == d and not dl.ongoing, text
        assert format_deadline(dl) == d.isoformat()
    assert parse_deadline(datetime(d.year, d.month, d.day), REG, CAL).due == d
    assert parse_deadline(to_excel(datetime(d.year, d.month, d.day)), REG, CAL).due == d


@settings(max_examples=200, deadline=None)
@given(y=st.integers(2016, 2036), m=st.integers(1, 12), suffix=st.sampled_from(["", "前", "之前", "以前"]))
def test_month_and_year_end_round_trip(y, m, suffix):
    last = date(y, m, monthcal.monthrange(y, m)[1])
    for form in (f"{y}年{m}月底", f"{y}年{m:02}月底", f"{y}年{m}月末"):
        assert due(form + suffix) == last
    assert due(f"{m}月底{suffix}", register_date=date(y, 6, 15)) == last
    assert due(f"{y}年底{suffix}") == due(f"{y}年年底{suffix}") == date(y, 12, 31)
    assert due(f"年底{suffix}", register_date=date(y, m, 1)) == date(y, 12, 31)


# --- plausibility: a deadline near the register's date, a sane count, a real time of day -----


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (30, "1900-01-30"),  # 整改时限 "30" in a number cell: Excel serial 30
        (2026, "1905-07-18"),  # a year typed into a number cell
        (2958465, "9999-12-31"),
        ("0001-01-01", "2016年至2036年"),
        ("9999年底前", "2016年至2036年"),
        ("2015年12月31日", "2016年至2036年"),
        ("2037-01-01", "2016年至2036年"),
        (datetime(1999, 5, 1), "1999-05-01"),
        ("99999个工作日内", "超过250个工作日"),
        ("251个工作日内", "超过250个工作日"),
        ("2026-12-31 25:99", "时间部分无效"),
        ("2026-12-31 23:60", "时间部分无效"),
        ("2026-12-31 12:00:61", "时间部分无效"),
    ],
)
def test_implausible_deadlines_are_errors(value, match):
    with pytest.raises(DeadlineError, match=match):
        parse_deadline(value, REG, CAL)


def test_window_edges_and_limits_still_parse():
    assert due("2016-01-01") == date(2016, 1, 1) and due("2036年底前") == date(2036, 12, 31)
    assert due(to_excel(datetime(2036, 12, 31))) == date(2036, 12, 31)
    assert due("250个工作日内") == CAL.add_workdays(REG, 250)
    assert due("2026-12-31 23:59:59") == due("2026-12-31T17:30") == date(2026, 12, 31)
