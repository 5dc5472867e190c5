"""The sweep's sections beside the deadline ladder: 定期报送, 回头看 and the calendar notice.

They go into the same one-email-a-day digest as the ladder (rectify.reminders.plan_reminders
asks `extra_lines` for them) and are recorded the same way, as reminder lines whose unique key
says "never twice":

    report_soon    owner        the working day before a reporting due day, note still missing
    report_today   owner        on the due day, note still missing
                                (deadline = occurrence = the due day: once per period each)
    recheck_due    secretaries  every working day from the 复核日期 until the 回头看 is recorded
                                (deadline = 复核日期, occurrence = the day)
    calendar       secretaries  from 1 December, once: next year has no confirmed calendar.
                                Not about an item, so it has no line: the digest that carried
                                it (its outbox row's sections) is the record.

Each is one or two SELECTs whatever the number of items, and nothing at all on days that are
no reminder day (most days for 定期报送).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Item, Measure, OutboxMail, Status
from notifications.cn import cn_date
from rectify.reporting import report_lines
from rectify.workdays import WorkCalendar

SECTIONS = ("report", "recheck_due", "calendar")

SECTION_TEXT = {
    "report": (
        "定期报送（{cadence}）",
        "待报送进展",
        "以下事项本期尚未报送整改进展，请于报送截止日（含当日）前报送本期整改进展。"
        "长期坚持事项同样需要按期报送。报送截止日逢节假日顺延至节后第一个工作日。",
    ),
    "recheck_due": (
        "回头看（复核到期）",
        "回头看到期",
        "以下已销号事项已到复核日期，请开展回头看：整改成效巩固的予以确认，出现反弹的重新打开整改"
        "（rectify recheck 编号 --confirm 或 --reopen --reason 原因）。",
    ),
    "calendar": (
        "{year}年法定节假日数据",
        "{year}年日历待确认",
        "{year}年尚无确认的法定节假日与调休数据（{source}）。国务院办公厅通知发布后，"
        "请通过 RECTIFY_CALENDAR_OVERRIDE 提供覆盖文件或升级 chinesecalendar；在此之前，"
        "{year}年的整改时限和工作日按{fallback}计算。本提醒只发送一次。",
    ),
}


@dataclass(frozen=True)
class ExtraLine:
    item_id: int | None  # None: the calendar notice
    code: str
    rung: str
    recipient_id: int
    deadline: date | None
    occurrence: date | None
    days: int
    entry: dict  # what the digest shows


def _measures(session: Session, ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for item_id, text, deadline, deadline_text in session.execute(
            select(Measure.item_id, Measure.text, Measure.deadline, Measure.deadline_text)
            .where(Measure.item_id.in_(ids[start : start + 500]))
            .order_by(Measure.item_id, Measure.position)
        ):
            out[item_id].append({"text": text, "deadline": deadline or deadline_text})
    return out


def _entry(
    names: dict, item_id, code, description, department, owner_id, leader_id, deadline, measures, note: str
) -> dict:
    return {
        "code": code,
        "description": description,
        "department": department,
        "owner": names.get(owner_id, "—"),
        "leader": names.get(leader_id, "—"),
        "deadline": deadline or "长期坚持",
        "days_left": None,
        "days_overdue": None,
        "measures": measures.get(item_id, []),
        "note": note,
    }


def calendar_notice(session: Session, day: date, calendar: WorkCalendar) -> dict | None:
    """From 1 December: next year's source when it is not confirmed and nobody was told yet."""
    if day.month != 12:
        return None
    year = day.year + 1
    source = calendar.source(year)
    if source in ("package", "override"):
        return None
    told = session.scalar(
        select(OutboxMail.id)
        .where(
            OutboxMail.source == "sweep",
            OutboxMail.day >= date(day.year, 12, 1),
            OutboxMail.sections.contains("calendar"),
        )
        .limit(1)
    )
    if told is not None:
        return None
    from rectify.workdays import SOURCE_LABELS

    return {
        "year": year,
        "source": SOURCE_LABELS[source],
        "fallback": "估算文件" if source == "estimate" else "周一至周五",
    }


def extra_lines(
    session: Session,
    day: date,
    calendar: WorkCalendar,
    settings,
    names: dict[int, str],
    secretaries: list[int],
) -> list[ExtraLine]:
    """Today's 定期报送, 回头看 and calendar lines (see the module docstring)."""
    reports = report_lines(session, day, calendar, settings)
    rechecks = (
        session.execute(
            select(
                Item.id,
                Item.code,
                Item.description,
                Item.department,
                Item.owner_id,
                Item.leader_id,
                Item.deadline,
                Item.closed_on,
                Item.recheck_on,
            )
            .where(Item.status == Status.closed, Item.recheck_on <= day)
            .order_by(Item.recheck_on, Item.code)
        ).all()
        if secretaries
        else []
    )
    measures = _measures(session, [r.item_id for r in reports] + [r.id for r in rechecks])
    lines: list[ExtraLine] = []
    for r in reports:
        last = f"上次报送：{cn_date(r.last_note)}" if r.last_note else "尚未报送过进展"
        note = f"报送截止：{cn_date(r.due)}（本期自{cn_date(r.period_start)}次日起；{last}）"
        entry = _entry(
            names,
            r.item_id,
            r.code,
            r.description,
            r.department,
            r.owner_id,
            r.leader_id,
            r.deadline,
            measures,
            note,
        )
        lines.append(
            ExtraLine(
                r.item_id,
                r.code,
                r.rung,
                r.owner_id,
                r.due,
                r.due,
                0 if r.rung == "report_today" else 1,
                entry,
            )
        )
    for r in rechecks:
        note = f"销号日期：{cn_date(r.closed_on)}；复核日期：{cn_date(r.recheck_on)}"
        for secretary_id in secretaries:
            entry = _entry(
                names,
                r.id,
                r.code,
                r.description,
                r.department,
                r.owner_id,
                r.leader_id,
                r.deadline,
                measures,
                note,
            )
            lines.append(
                ExtraLine(
                    r.id,
                    r.code,
                    "recheck_due",
                    secretary_id,
                    r.recheck_on,
                    day,
                    (day - r.recheck_on).days,
                    entry,
                )
            )
    notice = calendar_notice(session, day, calendar) if secretaries else None
    if notice:
        for secretary_id in secretaries:
            lines.append(ExtraLine(None, "", "calendar", secretary_id, None, None, 0, notice))
    return lines


def section_texts(name: str, entries: list[dict], settings) -> tuple[str, str, str]:
    """(title, short, intro) of one of these sections."""
    if name == "calendar":
        fmt = entries[0]
    elif name == "report":
        from rectify.periods import parse_setting

        default = parse_setting(settings.reporting)
        fmt = {"cadence": default.label if default else "按台账汇报频次"}
    else:
        fmt = {}
    return tuple(t.format(**fmt) for t in SECTION_TEXT[name])
