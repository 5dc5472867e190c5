"""Dates of 定期报送 and 回头看: pure date arithmetic on the working-day calendar, no database.

A cadence is what offices write: 每月5日前报送 (monthly:5), 每周五前 (weekly:5), 每季度首月5日前
(quarterly:5). Each nominal due day falls on a calendar day; when that day is not a working day
the due day moves to the next working day (顺延), as statutory time limits do (民法典第二百零三条:
a period ending on a statutory holiday ends on the day after it). Moving it earlier would ask
for, say, October's progress in September when the 5th falls in the National Day holiday.

The reporting period of a due day D is (the previous due day, D]: a progress note dated inside
it is the note for D. An item is required to report for D only if it was registered on or
before the period's start (an item imported mid-period reports from the next due day on).
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date, timedelta

from models.status import Status
from rectify.errors import InvalidInput
from rectify.workdays import WorkCalendar

KINDS = ("monthly", "weekly", "quarterly")
# Who reports (the module docstring of rectify.reporting says why these two).
REPORTING_STATUSES = (Status.in_progress, Status.ongoing)
KIND_LABELS = {"monthly": "每月", "weekly": "每周", "quarterly": "每季度", "off": "不需报送"}
DEFAULT_DAY = {"monthly": 5, "weekly": 5, "quarterly": 5}
WEEKDAYS = "一二三四五六日"

# The register's 汇报频次 words -> kind.
REGISTER_WORDS = {
    "每月": "monthly",
    "月": "monthly",
    "按月": "monthly",
    "月报": "monthly",
    "每月一报": "monthly",
    "每周": "weekly",
    "周": "weekly",
    "按周": "weekly",
    "周报": "weekly",
    "每周一报": "weekly",
    "每季度": "quarterly",
    "每季": "quarterly",
    "季度": "quarterly",
    "按季度": "quarterly",
    "季报": "quarterly",
    "每季度一报": "quarterly",
    "不需报送": "off",
    "无需报送": "off",
    "不报送": "off",
    "无": "off",
}


def parse_register_word(text: str) -> str | None:
    """'每月' -> 'monthly'; '' -> None (the setting applies); unknown -> ValueError."""
    text = text.strip()
    if not text:
        return None
    if text.lower() in (*KINDS, "off"):
        return text.lower()
    if text in REGISTER_WORDS:
        return REGISTER_WORDS[text]
    raise ValueError("汇报频次无法识别（可填 每月、每周、每季度 或 不需报送）")


@dataclass(frozen=True)
class Cadence:
    kind: str  # monthly | weekly | quarterly
    day: int  # day of month (monthly, quarterly) or ISO weekday 1..7 (weekly)

    @property
    def label(self) -> str:
        if self.kind == "weekly":
            return f"每周{WEEKDAYS[self.day - 1]}前"
        if self.kind == "quarterly":
            return f"每季度首月{self.day}日前"
        return f"每月{self.day}日前"

    def nominal_dues(self, start: date, end: date) -> list[date]:
        """Calendar due days in start..end (a day past the month's end is its last day)."""
        if self.kind == "weekly":
            first = start + timedelta(days=(self.day - 1 - start.weekday()) % 7)
            return [first + timedelta(weeks=k) for k in range((end - first).days // 7 + 1)]
        months = (1, 4, 7, 10) if self.kind == "quarterly" else range(1, 13)
        dues = []
        for year in range(start.year, end.year + 1):
            for month in months:
                d = date(year, month, min(self.day, _calendar.monthrange(year, month)[1]))
                if start <= d <= end:
                    dues.append(d)
        return dues


def parse_setting(text: str) -> Cadence | None:
    """RECTIFY_REPORTING: 'monthly:5', 'weekly:5', 'quarterly:5' or 'off' (None)."""
    raw = (text or "").strip().lower()
    if raw in ("off", "none", ""):
        return None
    kind, _, number = raw.partition(":")
    if kind not in KINDS:
        raise InvalidInput(
            f"RECTIFY_REPORTING 的值“{text}”无法识别：应为 monthly:日、weekly:星期几、"
            "quarterly:日 或 off（例如 monthly:5 表示每月5日前报送）"
        )
    if not number:
        return Cadence(kind, DEFAULT_DAY[kind])
    limit = 7 if kind == "weekly" else 31
    if not (number.isdigit() and 1 <= int(number) <= limit):
        raise InvalidInput(f"RECTIFY_REPORTING 的值“{text}”有误：{kind} 后的数字应在 1 到 {limit} 之间")
    return Cadence(kind, int(number))


def cadence_for(kind: str | None, default: Cadence | None) -> Cadence | None:
    """The cadence of an item: its register kind (None: the setting; 'off': none). A kind
    other than the setting's uses that kind's customary day (每月5日, 每周五, 季度首月5日)."""
    if kind is None:
        return default
    if kind == "off":
        return None
    if default is not None and default.kind == kind:
        return default
    return Cadence(kind, DEFAULT_DAY[kind])


@dataclass(frozen=True)
class Period:
    start: date  # the previous due day: notes dated after it count
    due: date  # the due day (a working day)
    nominal: date  # the calendar day the cadence names

    @property
    def moved(self) -> bool:
        return self.due != self.nominal


# How far back the due days are generated from: enough for two due days before any day,
# even when a long holiday moves one (the calendar is consulted only from here up to the first
# due day on or after the day asked about, so next year's data is touched only when needed).
_SPAN = {"weekly": timedelta(days=28), "monthly": timedelta(days=100), "quarterly": timedelta(days=300)}


def _dues(cadence: Cadence, day: date, calendar: WorkCalendar):
    """(due, nominal) in order from before `day` up to and including the first due >= day."""
    start = day - _SPAN[cadence.kind]
    last = None
    while True:
        for nominal in cadence.nominal_dues(start, start + timedelta(days=120)):
            due = nominal if calendar.is_workday(nominal) else calendar.next_workday(nominal)
            if last is not None and due <= last:
                continue  # a long holiday may merge two weekly due days
            last = due
            yield due, nominal
            if due >= day:
                return
        start += timedelta(days=121)


def current_period(cadence: Cadence, day: date, calendar: WorkCalendar) -> Period:
    """The period whose due day is the first on or after `day`."""
    dues = list(_dues(cadence, day, calendar))
    return Period(dues[-2][0], *dues[-1])


def last_closed_period(cadence: Cadence, day: date, calendar: WorkCalendar) -> Period:
    """The latest period whose due day is before `day` (its note was due and is judged)."""
    dues = list(_dues(cadence, day, calendar))
    return Period(dues[-3][0], *dues[-2])


def reminder_rung(period: Period, day: date, calendar: WorkCalendar) -> str | None:
    """report_today on the due day, report_soon on the working day before it, else None."""
    if day == period.due:
        return "report_today"
    if calendar.is_workday(day) and day == calendar.previous_workday(period.due):
        return "report_soon"
    return None


# --- 回头看 ---------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer days)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def recheck_date(approved_on: date, chosen: date | None = None, months: int | None = None) -> date:
    """The 复核日期 of an approval: `chosen` (checked), or RECTIFY_RECHECK_MONTHS later."""
    from rectify.workdays import LAST_DAY

    if chosen is None:
        if months is None:
            from rectify.settings import get_settings

            months = get_settings().recheck_months
        if months < 1:
            raise InvalidInput(f"RECTIFY_RECHECK_MONTHS 应为正整数（现为{months}）")
        return add_months(approved_on, months)
    if chosen <= approved_on:
        raise InvalidInput(f"复核日期 {chosen.isoformat()} 应晚于销号日期 {approved_on.isoformat()}")
    if chosen > LAST_DAY:
        raise InvalidInput(f"复核日期 {chosen.isoformat()} 超出有效范围（最晚 {LAST_DAY.isoformat()}）")
    return chosen
