"""What the status report says, as values: its item and measure lines, the tallies of each
breakdown, and the Report that every format renders (render.py, document.py, docx.py).

The wording that belongs to a value (整改率, 已超期N个工作日, the summary sentence) is a property
here, so the Markdown, HTML and Word documents say it the same way; how the values are compiled
from the ledger is rectify.report.figures'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from models import Status
from rectify.report.supplement import Supplement
from rectify.report.wording import Office, cn_date, cn_dates, comrade, is_relative_deadline, percent


@dataclass
class MeasureLine:
    text: str
    deadline_text: str  # as the office wrote it
    due: date | None  # None: 长期坚持
    # Past its own deadline on the report's date while the item is in progress; the working
    # days lost (0 when the deadline was the last working day before a weekend).
    overdue: bool = False
    overdue_workdays: int = 0
    done_on: date | None = None  # done on or before the report's date (rectify.measures)

    @property
    def wording(self) -> str:
        """The measure as the office wrote it, its dates in the report's one form."""
        return cn_dates(self.text)

    @property
    def deadline_label(self) -> str:
        """As written (dates normalised), with the date it means when the phrase is relative."""
        if self.due is None:
            return cn_dates(self.deadline_text) or "长期坚持"
        written = cn_dates(self.deadline_text)
        if not written or written == cn_date(self.due):
            return cn_date(self.due)
        if is_relative_deadline(self.deadline_text):
            return f"{written}，即{cn_date(self.due)}"
        return written

    @property
    def due_phrase(self) -> str:
        """For the next-steps text: 2026年12月31日前完成 / 立行立改，2026年11月9日前完成 /
        2026年12月底前完成 / 长期坚持, then 已超期N个工作日 when it is late."""
        if self.due is None:
            return "长期坚持"
        written = cn_dates(self.deadline_text)
        if not written or written == cn_date(self.due):
            phrase = f"{cn_date(self.due)}前完成"
        elif is_relative_deadline(self.deadline_text) and written.endswith("底前"):
            phrase = (
                f"{self.due.year}{'' if written.startswith('年') else '年'}{written}完成"  # 2026年12月底前
            )
        elif is_relative_deadline(self.deadline_text):
            phrase = f"{written}，{cn_date(self.due)}前完成"
        else:
            phrase = written + ("" if written.endswith("完成") else "完成")
        if self.done_on is not None:
            return f"{phrase}，已于{cn_date(self.done_on)}完成"
        return phrase + (f"，{self.overdue_label}" if self.overdue else "")

    @property
    def overdue_label(self) -> str:
        return "已超期" + (f"{self.overdue_workdays}个工作日" if self.overdue_workdays else "")


@dataclass
class ItemLine:
    id: int
    code: str
    source: str
    category: str
    description: str
    department: str
    leader: str
    owner: str
    status: Status  # as of the report's date
    deadline: date | None
    last_activity: date
    # Overdue is DOMAIN's "open, an unfinished measure past its deadline" (rectify.measures, as
    # in `rectify list --overdue`), counted from that measure's deadline (overdue_since);
    # the working days past the deadline are counted separately and may be 0: a Friday
    # deadline is overdue on Saturday, but no working day has been lost yet.
    overdue: bool = False
    overdue_workdays: int = 0
    overdue_since: date | None = None  # the deadline of its earliest unfinished overdue measure
    idle_days: int = 0  # calendar days since the last activity
    measures: list[MeasureLine] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return self.status.label + ("（逾期）" if self.overdue else "")

    @property
    def wording(self) -> str:
        return cn_dates(self.description)

    @property
    def overdue_label(self) -> str:
        return "已逾期" + (f"{self.overdue_workdays}个工作日" if self.overdue_workdays else "")

    @property
    def leader_title(self) -> str:
        return comrade(self.leader)

    @property
    def deadline_label(self) -> str:
        return cn_date(self.deadline) if self.deadline else "长期坚持"


@dataclass
class Tally:
    """One line of a breakdown: the same figures as the summary, for one category/leader/…"""

    name: str
    total: int = 0
    closed: int = 0
    in_progress: int = 0
    overdue: int = 0
    ongoing: int = 0

    @property
    def rate(self) -> float | None:
        return self.closed / self.total if self.total else None

    @property
    def rate_label(self) -> str:
        return percent(self.rate)

    def add(self, item: ItemLine) -> None:
        self.total += 1
        if item.status is Status.closed:
            self.closed += 1
        elif item.status is Status.ongoing:
            self.ongoing += 1
        else:
            self.in_progress += 1
            self.overdue += item.overdue

    @property
    def phrase(self) -> str:
        """问题4个，已完成整改1个，正在推进3个（其中逾期1个），长期坚持1个: the zero parts left out."""
        parts = [f"已完成整改{self.closed}个"] if self.closed else []
        if self.in_progress:
            parts.append(
                f"正在推进{self.in_progress}个" + (f"（其中逾期{self.overdue}个）" if self.overdue else "")
            )
        if self.ongoing:
            parts.append(f"长期坚持{self.ongoing}个")
        return f"{self.total}个，" + "，".join(parts) if parts else f"{self.total}个"


@dataclass
class Breakdown:
    title: str  # 按问题类别 …
    column: str  # 问题类别 …
    rows: list[Tally]


@dataclass
class LeaderGroup:
    leader: str
    items: list[ItemLine]


@dataclass
class Report:
    as_of: date
    stalled_after_days: int
    summary: Tally
    categories: list[Tally]  # in the sentence's order
    measure_count: int
    leader_count: int
    breakdowns: list[Breakdown]
    overdue: list[ItemLine]  # oldest deadline first
    stalled: list[ItemLine]  # longest idle first
    next_steps: list[LeaderGroup]  # open items (including 长期坚持) by leader
    office: Office = field(default_factory=Office)
    supplement: Supplement = field(default_factory=Supplement)

    @property
    def title(self) -> str:
        return self.office.report_title

    @property
    def dated(self) -> date:
        """成文日期: the day the report is signed (default: its as-of date)."""
        return self.office.dated or self.as_of

    @property
    def all_open(self) -> list["ItemLine"]:
        return [i for g in self.next_steps for i in g.items]

    @property
    def as_of_label(self) -> str:
        return cn_date(self.as_of)

    @property
    def summary_sentence(self) -> str:
        s = self.summary
        if not s.total:
            return f"截至{self.as_of_label}，整改台账中尚无整改事项。"
        cats = "、".join(f"{c.name}{c.total}个" for c in self.categories)
        return (
            f"截至{self.as_of_label}，共查摆问题{s.total}个（{cats}），"
            f"已完成整改{s.closed}个，整改率{s.rate_label}；"
            f"正在推进{s.in_progress}个，其中逾期{s.overdue}个；长期坚持{s.ongoing}个。"
        )

    @property
    def overdue_leaders(self) -> list[str]:
        """Leaders of overdue items, the most overdue first."""
        return list(dict.fromkeys(i.leader for i in self.overdue))

    @property
    def open_count(self) -> int:
        return sum(len(g.items) for g in self.next_steps)
