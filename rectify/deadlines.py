"""The 整改时限 column as offices really write it, turned into a due date.

Relative phrases (N个工作日内, 立行立改) and year-less ones (12月底前, 年底前) count from the
register's date, which the importer passes in as `register_date`.
"""

from __future__ import annotations

import calendar as _monthcal
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from openpyxl.utils.datetime import from_excel

from rectify.workdays import WorkCalendar


@dataclass(frozen=True)
class Deadline:
    due: date | None  # None only when ongoing
    ongoing: bool  # 长期坚持: never overdue
    text: str  # as written, for display and export


class DeadlineError(ValueError):
    """Unreadable deadline; str() is a Chinese message quoting the text (the importer adds row/column)."""

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message)
        self.text = text


# "2021年12月底前完成" is how many offices phrase it; the trailing 完成 adds nothing.
_BEFORE = r"(?:前|之前|以前)?(?:完成)?"
# Separators must agree (2021-12/31 is more likely a typo than a date); a time part appears
# when a date cell went through CSV or pandas ("2021-12-31 00:00:00", spaces already removed).
_DATE_SEP = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:T?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?" + _BEFORE
)
_DATE_CN = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?" + _BEFORE)
_MONTH_END = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(?:底|末)" + _BEFORE)
_YEAR_END = re.compile(r"(?:(\d{4})年?)?年(?:底|末)" + _BEFORE)
_WORKDAYS = re.compile(r"(\d+|[一二两三四五六七八九十]+)个工作日(?:内|以内|之内)")
_ONGOING = {"长期坚持", "长期"}
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
# A due date more than this many years from the register's date is a typo or a number that
# lost its meaning (整改时限 "30" read as Excel serial 30 = 1900-01-30), not a plan.
YEAR_WINDOW = 10
MAX_WORKING_DAYS = 250  # about one working year; "99999个工作日内" is not a deadline


def _chinese_number(s: str) -> int | None:
    """Simple numerals 一..九十九 (and 两); None for anything else."""
    if s.isdigit():
        return int(s)
    tens, sep, units = s.partition("十")
    if not sep:
        return _DIGITS.get(s) if len(s) == 1 else None
    t = 1 if tens == "" else _DIGITS.get(tens) if len(tens) == 1 else None
    u = 0 if units == "" else _DIGITS.get(units) if len(units) == 1 else None
    if t is None or u is None or t == 0:
        return None
    return t * 10 + u


def _day(y: str | int, m: str | int, d: str | int, text: str) -> date:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        raise DeadlineError(f"整改时限“{text}”不是有效日期", text) from None


def _in_window(due: date, register_date: date, text: str) -> date:
    lo, hi = register_date.year - YEAR_WINDOW, register_date.year + YEAR_WINDOW
    if not lo <= due.year <= hi:
        raise DeadlineError(
            f"整改时限“{text}”（{due.isoformat()}）不在合理范围内（应在{lo}年至{hi}年之间）", text
        )
    return due


def parse_deadline(
    value: object, register_date: date, calendar: WorkCalendar, immediate_days: int = 5
) -> Deadline:
    if isinstance(register_date, datetime):
        register_date = register_date.date()
    dl = _parse(value, register_date, calendar, immediate_days)
    if dl.due is not None:
        _in_window(dl.due, register_date, dl.text)
    return dl


def _parse(value: object, register_date: date, calendar: WorkCalendar, immediate_days: int) -> Deadline:
    # Excel date cells come as datetime/date, or as serial numbers when the cell lost its format.
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return Deadline(value, False, value.isoformat())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (math.isfinite(value) and 1 <= value < 2958466):  # 2958465 = 9999-12-31
            raise DeadlineError(f"无法识别的整改时限“{value}”", str(value))
        due = from_excel(value)
        due = due.date() if isinstance(due, datetime) else due
        return Deadline(due, False, due.isoformat())
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DeadlineError("整改时限为空")
    if not isinstance(value, str):
        raise DeadlineError(f"无法识别的整改时限“{value}”", str(value))

    text = value.strip()
    # NFKC turns full-width digits and punctuation (２０２１／１２／３１) into ASCII; inner spaces
    # (including the ideographic space U+3000) are typing noise.
    s = "".join(unicodedata.normalize("NFKC", text).split())

    if s in _ONGOING:
        return Deadline(None, True, text)
    if s == "立行立改":
        return Deadline(calendar.add_workdays(register_date, immediate_days), False, text)
    if m := _DATE_SEP.fullmatch(s):
        if m[5] is not None and not (int(m[5]) < 24 and int(m[6]) < 60 and int(m[7] or 0) < 60):
            raise DeadlineError(f"整改时限“{text}”的时间部分无效", text)
        return Deadline(_day(m[1], m[3], m[4], text), False, text)
    if m := _DATE_CN.fullmatch(s):
        return Deadline(_day(m[1], m[2], m[3], text), False, text)
    if m := _MONTH_END.fullmatch(s):
        year, month = int(m[1] or register_date.year), int(m[2])
        if not 1 <= month <= 12:
            raise DeadlineError(f"整改时限“{text}”不是有效日期", text)
        return Deadline(_day(year, month, _monthcal.monthrange(year, month)[1], text), False, text)
    if m := _YEAR_END.fullmatch(s):
        return Deadline(_day(m[1] or register_date.year, 12, 31, text), False, text)
    if m := _WORKDAYS.fullmatch(s):
        n = _chinese_number(m[1])
        if n and n > MAX_WORKING_DAYS:
            raise DeadlineError(f"整改时限“{text}”超过{MAX_WORKING_DAYS}个工作日，请写明具体日期", text)
        if n:  # 0 or an unreadable numeral is not a deadline
            return Deadline(calendar.add_workdays(register_date, n), False, text)
    raise DeadlineError(f"无法识别的整改时限“{text}”", text)


def format_deadline(dl: Deadline) -> str:
    if dl.ongoing:
        return "长期坚持"
    return dl.due.isoformat() if dl.due else ""
