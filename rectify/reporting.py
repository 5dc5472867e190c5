"""定期报送 (DOMAIN.md "Progress reporting"): which open items owe a progress note, and when.

Who reports: items 整改中 or 长期坚持 with an owner (new items have nobody to report yet, and
a submitted item's owner has handed in the closure: add_progress refuses both). The cadence is
the item's 汇报频次 from the register, else RECTIFY_REPORTING (rectify.periods). A note counts
for the period it is dated in; the register's own 整改进展 at import is a note too.

Two questions, both set-based (one SELECT per cadence kind, three kinds at most):
* unreported_items(session, day): 未按时报送 as of `day`: the latest period whose due day is
  before `day` ended without a note. A late note does not undo it; the next period judges anew.
* report_lines(session, day, ...): the sweep's rungs on `day`: report_soon on the working day
  before a due day, report_today on it, for items with no note yet in the current period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, String, bindparam, select, text
from sqlalchemy.orm import Session, aliased

from models import Item, Person
from rectify.owing_rule import owing_condition
from rectify.periods import (
    KINDS,
    Cadence,
    Period,
    cadence_for,
    current_period,
    last_closed_period,
    parse_setting,
    reminder_rung,
)
from rectify.workdays import WorkCalendar


def _defaults(settings=None, calendar: WorkCalendar | None = None):
    from rectify.settings import get_settings
    from rectify.workdays import get_calendar

    settings = settings or get_settings()
    return settings, calendar or get_calendar(settings.calendar_override)


def _owing(kind: str, default: Cadence | None, period: Period, until: date):
    """Items of cadence `kind` that owe a note for `period`, looking at notes up to `until`:
    rectify.owing_rule's condition (one copy, shared with the lean read path)."""
    return text(owing_condition(default is not None and default.kind == kind)).bindparams(
        bindparam("kind", kind, type_=String),
        bindparam("start", period.start, type_=Date),
        bindparam("until", until, type_=Date),
    )


@dataclass(frozen=True)
class Owing:
    item_id: int
    code: str
    cadence: Cadence
    period: Period


def _periods_by_kind(session: Session, default: Cadence | None, pick) -> dict[str, tuple[Cadence, Period]]:
    """The cadences in use (the setting's and the items' own 汇报频次) with their period."""
    used = set(session.scalars(select(Item.reporting).where(Item.reporting.in_(KINDS)).distinct()))
    out = {}
    for kind in (k for k in KINDS if k in used or (default is not None and default.kind == k)):
        cadence = cadence_for(kind, default)
        period = pick(cadence)
        if period is not None:
            out[kind] = (cadence, period)
    return out


def unreported(
    session: Session,
    day: date,
    *,
    settings=None,
    calendar: WorkCalendar | None = None,
    codes: list[str] | None = None,
) -> list[Owing]:
    """Items 未按时报送 as of `day` (see the module docstring), by code."""
    settings, calendar = _defaults(settings, calendar)
    default = parse_setting(settings.reporting)
    found: list[Owing] = []
    for kind, (cadence, period) in _periods_by_kind(
        session, default, lambda c: last_closed_period(c, day, calendar)
    ).items():
        stmt = select(Item.id, Item.code).where(_owing(kind, default, period, period.due)).order_by(Item.id)
        if codes is not None:
            stmt = stmt.where(Item.code.in_(codes))
        found += [Owing(i, c, cadence, period) for i, c in session.execute(stmt)]
    return sorted(found, key=lambda o: o.item_id)


def is_unreported(session: Session, code: str, day: date, **kwargs) -> bool:
    """One item's 未按时报送 as of `day` (e.g. the light of a 长期坚持 item)."""
    return bool(unreported(session, day, codes=[code], **kwargs))


@dataclass(frozen=True)
class ReportRow:
    item_id: int
    code: str
    description: str
    department: str
    owner_id: int
    leader_id: int | None
    deadline: date | None
    rung: str
    due: date
    period_start: date
    last_note: date | None


def report_lines(session: Session, day: date, calendar: WorkCalendar, settings) -> list[ReportRow]:
    """The sweep's 定期报送 reminders on `day`: nothing unless `day` is a reminder day."""
    default = parse_setting(settings.reporting)
    rows: list[ReportRow] = []
    periods = _periods_by_kind(session, default, lambda c: current_period(c, day, calendar))
    for kind, (_cadence, period) in periods.items():
        rung = reminder_rung(period, day, calendar)
        if rung is None:
            continue
        rows += [
            ReportRow(*r[:7], rung, period.due, period.start, r[7])
            for r in session.execute(
                select(
                    Item.id,
                    Item.code,
                    Item.description,
                    Item.department,
                    Item.owner_id,
                    Item.leader_id,
                    Item.deadline,
                    Item.last_progress_on,
                )
                .where(_owing(kind, default, period, day))
                .order_by(Item.code)
            )
        ]
    return rows


def unreported_items(session: Session, day: date, **kwargs) -> list[dict]:
    """未按时报送 as of `day`, by code, for `rectify list --unreported`, lights and the report:
    code, owner, leader, reporting (kind), reporting_label, report_due (the missed due day)."""
    owing = {o.item_id: o for o in unreported(session, day, **kwargs)}
    owner, leader = aliased(Person), aliased(Person)
    out = []
    ids = list(owing)
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        for item_id, code, owner_name, leader_name in session.execute(
            select(Item.id, Item.code, owner.name, leader.name)
            .outerjoin(owner, Item.owner_id == owner.id)
            .outerjoin(leader, Item.leader_id == leader.id)
            .where(Item.id.in_(ids[start : start + 500]))
        ):
            o = owing[item_id]
            out.append(
                {
                    "code": code,
                    "owner": owner_name,
                    "leader": leader_name,
                    "reporting": o.cadence.kind,
                    "reporting_label": o.cadence.label,
                    "report_due": o.period.due.isoformat(),
                }
            )
    return sorted(out, key=lambda r: r["code"])
