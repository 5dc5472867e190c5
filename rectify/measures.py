"""Measures done one by one, overdue and lights (DOMAIN.md "Measures", "Lights"). No Prefect.

The one copy of two rules that `list`, `show`, the reminders, the report's figures and the
sweep all use:

* **Overdue (逾期)**: an item in an overdue-able state (open, not 长期坚持) with an unfinished
  dated measure whose deadline is before today. So the item's *open deadline* is the earliest
  deadline of its unfinished dated measures (`open_deadlines`), and overdue is one comparison.
* **Lights (亮灯)**: per measure from its own deadline, per item from its open deadline (the
  worst of its measures): red = past the deadline, yellow = due within `yellow_days` working
  days (the first reminder rung by default), green otherwise; a done measure is green; an
  ongoing (长期坚持) item is green unless `ongoing_lights` (the 定期报送 hook) says otherwise;
  a closed item has none.
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Item, Measure, Person, Status
from rectify import change_rules, workflow
from rectify.errors import InvalidInput, InvalidTransition

from rectify.lights import (  # noqa: F401  (on the first line, so `ruff format` keeps it covering all)
    GREEN,
    LIGHT_LABELS,
    OVERDUE_STATUSES,
    RED,
    YELLOW,
    Lights,
    is_overdue,
    light,
    worst,
    yellow_days,
    yellow_horizon,
)

# 整改进展 / 完成情况 cells that mean "this measure is finished". Anchored at the start and
# followed by nothing or punctuation, so 未完成, 尚未完成, 基本完成, 完成60% and 已完成部分 do not count.
DONE_RE = re.compile(
    r"^(已全部|已经|全部)?(已)?(整改)?(完成|整改)(整改)?(到位)?([，。；;,.!！、\s].*)?$", re.S
)
_NEGATION_RE = re.compile(r"^(未|尚未|没有|不|暂未|待|正在|基本|部分)")


def says_done(text: str | None) -> bool:
    """Whether a register cell says the measure is finished (已完成, 已整改, 完成, 整改完成 …)."""
    text = (text or "").strip()
    return bool(text) and not _NEGATION_RE.match(text) and bool(DONE_RE.match(text))


def ongoing_lights(session: Session, item_ids, today: date) -> dict[int, str]:
    """{item id: light} for 长期坚持 items whose progress report is missing (定期报送, DOMAIN.md
    "Lights"): red, as a missed due day is. Without a reporting cadence nothing is missing."""
    from rectify.reporting import unreported

    wanted = set(item_ids)
    if not wanted:
        return {}
    return {o.item_id: "red" for o in unreported(session, today) if o.item_id in wanted}


def open_deadlines(session: Session, item_ids=None) -> dict[int, date]:
    """{item id: open deadline} now: the earliest deadline of its unfinished dated measures."""
    stmt = (
        select(Measure.item_id, func.min(Measure.deadline))
        .where(Measure.deadline.is_not(None), Measure.done_on.is_(None))
        .group_by(Measure.item_id)
    )
    if item_ids is not None:
        stmt = stmt.where(Measure.item_id.in_(list(item_ids)))
    return dict(session.execute(stmt).all())


def open_deadlines_as_of(session: Session, as_of: date) -> dict[int, date]:
    """The open deadline each item had on `as_of`, for the report's replay: measures done after
    that day were still unfinished, and an extension approved after it had not moved the
    deadline yet (its old_deadline stands). Two queries, combined here."""
    from models import Extension

    before: dict[tuple[int, int], date] = {}
    for item_id, position, old in session.execute(
        select(Extension.item_id, Extension.position, Extension.old_deadline)
        .where(Extension.status == "approved", Extension.decided_on > as_of)
        .order_by(Extension.decided_on.desc(), Extension.id.desc())
    ):
        before[(item_id, position)] = old  # the earliest one after as_of wins (written last)
    found: dict[int, date] = {}
    for item_id, position, deadline in session.execute(
        select(Measure.item_id, Measure.position, Measure.deadline).where(
            Measure.deadline.is_not(None), Measure.done_on.is_(None) | (Measure.done_on > as_of)
        )
    ):
        deadline = before.get((item_id, position), deadline)
        if item_id not in found or deadline < found[item_id]:
            found[item_id] = deadline
    return found


def measure_counts(session: Session, as_of: date) -> tuple[int, int]:
    """提出整改措施N条、已完成M条 as of a day: measures of items imported by then, and those done
    on or before it. (Measures are counted as the ledger holds them now.)"""
    from models import AuditRecord

    imported = select(AuditRecord.item_id).where(AuditRecord.action == "import", AuditRecord.day <= as_of)
    base = select(func.count()).select_from(Measure).where(Measure.item_id.in_(imported))
    total = session.scalar(base) or 0
    done = session.scalar(base.where(Measure.done_on <= as_of)) or 0
    return total, done


# --- marking a measure done --------------------------------------------------------------


def get_measure(item: Item, number: int) -> Measure:
    """措施 N as people count them (1-based)."""
    if not 1 <= number <= len(item.measures):
        raise InvalidInput(f"事项 {item.code} 共有{len(item.measures)}条整改措施，没有第{number}条")
    return item.measures[number - 1]


def complete(session: Session, item: Item, measure: Measure, actor: Person, day: date, note: str) -> None:
    """Mark one measure done with a guarded UPDATE (a second writer finds it done already).
    The caller checked roles and state, and records the audit row."""
    done = session.execute(
        update(Measure)
        .where(Measure.id == measure.id, Measure.done_on.is_(None))
        .values(done_on=day, done_by_id=actor.id, done_note=note)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise InvalidTransition(f"事项 {item.code} 的第{measure.position + 1}条措施已完成")
    session.refresh(measure)


def mark_done(session: Session, code: str, number: int, actor: Person, day: date, *, note: str) -> Measure:
    """`rectify measure CODE N --done`: the owner or the leader says what was done."""
    item = workflow.get_item(session, code, lock=True)
    change_rules.require_item_person(actor, item, "完成整改措施")
    note = change_rules.require_text(note, "完成情况说明")
    if item.status not in (Status.new, Status.in_progress, Status.ongoing):
        raise InvalidTransition(f"事项当前状态为“{item.status.label}”，不能标记整改措施完成")
    measure = get_measure(item, number)
    if measure.done_on is not None:
        raise InvalidTransition(f"事项 {item.code} 的第{number}条措施已于 {measure.done_on} 完成")
    change_rules.check_item_day(session, item, day)
    workflow.touch(session, item)
    complete(session, item, measure, actor, day, note)
    workflow.record(
        session,
        item,
        actor.name,
        day,
        "measure_done",
        comment=note,
        details={"measure": number, "text": measure.text},
    )
    session.flush()
    return measure


def unfinished_dated(item: Item, completing: set[int] = frozenset()) -> list[tuple[int, Measure]]:
    """(number, measure) of dated measures neither done nor being completed now."""
    return [
        (n, m)
        for n, m in enumerate(item.measures, 1)
        if m.deadline is not None and m.done_on is None and n not in completing
    ]
