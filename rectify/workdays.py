"""Working-day arithmetic on the Chinese statutory calendar (法定节假日与调休).

Data per year comes from, in order: the override file (RECTIFY_CALENDAR_OVERRIDE), the
`chinesecalendar` package, or a Monday–Friday fallback that is announced once with a WARNING.
An override file may say its years are an estimate (`"_estimate": true`, as the shipped
calendar-2027.example.json does: no official 2027 notice exists yet); such a year is announced
once with a WARNING too, and `source(year)` names it (`rectify calendar` prints every year's).

Each year is turned once into a flag per day plus a cumulative count, so every query is an
index lookup or a bisect: reminders and reports ask these questions for every open item.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

from chinese_calendar import constants as _cc

from rectify.errors import RectifyError

logger = logging.getLogger("rectify.calendar")

# The window of business days the ledger accepts (a --today or 日期 outside it is a typing slip).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


class CalendarError(RectifyError, ValueError):
    """A malformed override file; the message is one Chinese line naming the file.

    A RectifyError so every command shows it as its one error line, not a traceback."""


def _package_years() -> dict[int, tuple[set[date], set[date]]]:
    # Read the package's tables once, grouped by year; its per-day functions raise
    # NotImplementedError outside its range, so we never call them.
    years: dict[int, tuple[set[date], set[date]]] = {}
    for y in range(min(_cc.holidays).year, max(_cc.holidays).year + 1):
        years[y] = (set(), set())
    for d in _cc.holidays:
        years[d.year][0].add(d)
    for d in _cc.workdays:
        years.setdefault(d.year, (set(), set()))[1].add(d)
    return years


_PACKAGE_YEARS = _package_years()

SOURCES = ("package", "override", "estimate", "fallback")
SOURCE_LABELS = {
    "package": "chinesecalendar 软件包（国务院办公厅正式通知）",
    "override": "覆盖文件",
    "estimate": "估算（覆盖文件标明为推算，并非国务院办公厅正式通知）",
    "fallback": "无数据，按周一至周五计算",
}


@dataclass(frozen=True, slots=True)
class _Year:
    start: int  # ordinal of 1 January
    flags: bytes  # 1 = working day, indexed by day of year (0-based)
    cum: list[int]  # cum[i] = working days among days 0..i of the year
    total: int


def _build_year(year: int, holidays: set[date], workdays: set[date]) -> _Year:
    start = date(year, 1, 1).toordinal()
    length = date(year + 1, 1, 1).toordinal() - start if year < 9999 else 365
    flags = bytearray(length)
    for i in range(length):
        d = date.fromordinal(start + i)
        flags[i] = d in workdays or (d.weekday() < 5 and d not in holidays)
    cum = list(accumulate(flags))
    return _Year(start, bytes(flags), cum, cum[-1])


class WorkCalendar:
    def __init__(self, override_path: Path | None = None) -> None:
        self.override_path = Path(override_path) if override_path is not None else None
        self._override = load_override(self.override_path) if self.override_path else {}
        self.estimated_years: set[int] = (
            set(self._override) if self.override_path and _marked_estimate(self.override_path) else set()
        )
        self._years: dict[int, _Year] = {}
        self._lock = threading.Lock()  # Prefect task runners may call from threads
        self.fallback_years: set[int] = set()
        self._estimate_said = False

    def source(self, year: int) -> str:
        """Where `year`'s data comes from: package, override, estimate or fallback."""
        if year in self._override:
            return "estimate" if year in self.estimated_years else "override"
        return "package" if year in _PACKAGE_YEARS else "fallback"

    def _year(self, year: int) -> _Year:
        y = self._years.get(year)
        if y is not None:
            return y
        with self._lock:
            if year in self._years:
                return self._years[year]
            if year in self._override:
                data = self._override[year]
                if year in self.estimated_years and not self._estimate_said:
                    self._estimate_said = True
                    logger.warning(
                        "%d年的法定节假日与调休数据来自估算文件 %s（推算，并非国务院办公厅正式通知），"
                        "正式通知发布后请核对并更新该文件。",
                        year,
                        self.override_path,
                    )
            elif year in _PACKAGE_YEARS:
                data = _PACKAGE_YEARS[year]
            else:
                # Said once per calendar (get_calendar() shares one per process): a span over
                # many uncovered years must not print one line per year.
                data = (set(), set())
                if not self.fallback_years:
                    logger.warning(
                        "%d年的法定节假日与调休数据缺失（chinesecalendar 未收录，也未提供覆盖文件），"
                        "暂按周一至周五计算工作日（其他缺失年份同样处理，不再逐年提示）；"
                        "可通过 RECTIFY_CALENDAR_OVERRIDE 指定覆盖文件。",
                        year,
                    )
                self.fallback_years.add(year)
            y = self._years[year] = _build_year(year, *data)
            return y

    def _rank(self, d: date) -> int:
        """Working days from 1 January of d's year up to and including d."""
        y = self._year(d.year)
        return y.cum[d.toordinal() - y.start]

    def is_workday(self, d: date) -> bool:
        y = self._year(d.year)
        return bool(y.flags[d.toordinal() - y.start])

    def add_workdays(self, d: date, n: int) -> date:
        """The n-th working day strictly after d (n > 0), strictly before d (n < 0); n = 0 is d."""
        if n == 0:
            return d if type(d) is date else date(d.year, d.month, d.day)
        year = d.year
        if n > 0:
            target = self._rank(d) + n
            while target > (y := self._year(year)).total:
                target -= y.total
                year += 1
        else:
            # Rank of the wanted day among working days counted from 1 January.
            target = self._rank(d) - self.is_workday(d) + n + 1
            while target < 1:
                year -= 1
                target += self._year(year).total
            y = self._year(year)
        return date.fromordinal(y.start + bisect_left(y.cum, target))

    def workdays_between(self, start: date, end: date) -> int:
        """Working days x with start < x <= end (0 if end <= start): e.g. days overdue."""
        if end <= start:
            return 0
        span = sum(self._year(y).total for y in range(start.year, end.year))
        return span + self._rank(end) - self._rank(start)

    def workdays_until(self, today: date, deadline: date) -> int:
        """Working days x with today < x <= deadline: 0 on the deadline day, and when past it."""
        return self.workdays_between(today, deadline)

    def next_workday(self, d: date) -> date:
        """First working day strictly after d."""
        return self.add_workdays(d, 1)

    def previous_workday(self, d: date) -> date:
        """Last working day strictly before d."""
        return self.add_workdays(d, -1)


@lru_cache(maxsize=None)
def _cached(key: Path | None) -> WorkCalendar:
    return WorkCalendar(key)


def get_calendar(override_path: Path | str | None = None) -> WorkCalendar:
    """The shared calendar for this override file (pass settings.calendar_override)."""
    key = Path(override_path).expanduser().resolve() if override_path else None
    return _cached(key)


get_calendar.cache_clear = _cached.cache_clear  # type: ignore[attr-defined]


# --- override file --------------------------------------------------------------------

_TYPES = {"holiday": 0, "休": 0, "workday": 1, "班": 1}


def _marked_estimate(path: Path) -> bool:
    """A JSON override whose top level says "_estimate": true (read after load_override
    accepted the file, so it parses)."""
    if path.suffix.lower() == ".csv":
        return False
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("_estimate") is True


def load_override(path: Path) -> dict[int, tuple[set[date], set[date]]]:
    """Read an override file: {year: (holidays, workdays)}; each listed year replaces the package's."""

    def fail(problem: str) -> CalendarError:
        return CalendarError(f"日历覆盖文件 {path} 有误：{problem}".replace("\n", " "))

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"无法读取（{exc.strerror or exc}）") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")  # CSV saved by Excel on Chinese Windows

    def parse_date(s: object, where: str) -> date:
        try:
            return date.fromisoformat(str(s).strip())
        except ValueError:
            raise fail(f"{where}的“{s}”不是有效日期（应为 YYYY-MM-DD）") from None

    years: dict[int, tuple[set[date], set[date]]] = {}
    if path.suffix.lower() == ".json" or (path.suffix.lower() != ".csv" and text.lstrip().startswith("{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise fail(f"不是有效的 JSON（第{exc.lineno}行第{exc.colno}列：{exc.msg}）") from None
        if not isinstance(doc, dict):
            raise fail("顶层应为以年份为键的对象")
        for key, entry in doc.items():
            if key.startswith("_"):  # comments such as "_note"
                continue
            if not (key.isascii() and key.isdigit() and len(key) == 4):
                raise fail(f"键“{key}”不是四位年份")
            if not isinstance(entry, dict) or set(entry) - {"holidays", "workdays"}:
                raise fail(f"“{key}”应为只含 holidays 和 workdays 的对象")
            sets: list[set[date]] = []
            for kind in ("holidays", "workdays"):
                items = entry.get(kind, [])
                if not isinstance(items, list):
                    raise fail(f"“{key}”下的 {kind} 应为日期列表")
                sets.append({parse_date(s, f"“{key}”下 {kind} ") for s in items})
            years[int(key)] = (sets[0], sets[1])
    else:
        rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), 1) if any(c.strip() for c in r)]
        if rows and rows[0][1][0].strip().lower() in ("date", "日期"):  # the header is optional
            header = [c.strip().lower() for c in rows[0][1]]
            if header[:2] not in (["date", "type"], ["日期", "类型"]):
                raise fail("表头应为 date,type")
            rows = rows[1:]
        if not rows:
            raise fail("没有任何日期")
        for lineno, row in rows:
            if len(row) < 2:
                raise fail(f"第{lineno}行应有 date 和 type 两列")
            d = parse_date(row[0], f"第{lineno}行")
            kind = _TYPES.get(row[1].strip().lower())
            if kind is None:
                raise fail(f"第{lineno}行类型“{row[1].strip()}”无法识别（应为 holiday/workday 或 休/班）")
            years.setdefault(d.year, (set(), set()))[kind].add(d)
    for year, (hol, work) in years.items():
        for d in sorted(hol | work):
            if d.year != year:
                raise fail(f"日期 {d} 不属于年份 {year}")
        if both := sorted(hol & work):
            raise fail(f"{both[0]} 同时被列为节假日和工作日")
    return years
