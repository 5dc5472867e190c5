"""Read-side queries for `list` and `show`: one SELECT each, no Prefect, plain dicts.

The dict keys are the documented, stable `--json` format (see README "JSON output").
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from models import AuditRecord, Item, Measure, Person, Status
from rectify import measures as rules
from rectify.lights import deadline_fields as _deadline_fields, list_row, report_fields as _report_fields
from rectify.workflow import ACTION_LABELS, get_item


def list_items(
    session: Session,
    today: date,
    *,
    status: Status | None = None,
    overdue: bool = False,
    owner: str | None = None,
    leader: str | None = None,
    calendar=None,
    settings=None,
    unreported: bool = False,
    as_of: date | None = None,
) -> list[dict]:
    """Items as they stand, or replayed to `as_of` (statuses and deadlines from the audit trail,
    items imported later left out), the way the report and the register export see that day."""
    if as_of is not None:
        return _replayed(
            list_items(
                session,
                as_of,
                owner=owner,
                leader=leader,
                calendar=calendar,
                settings=settings,
                unreported=unreported,
            ),
            session,
            as_of,
            status,
            overdue,
            rules.Lights(as_of, calendar, settings),
        )
    from rectify.reporting import unreported as owing

    missed = {o.code: o.period.due for o in owing(session, today)}  # 未按时报送 (定期报送)
    owner_p, leader_p = aliased(Person), aliased(Person)
    stmt = (
        select(
            Item.id,
            Item.code,
            Item.status,
            Item.category,
            Item.source,
            Item.department,
            Item.description,
            Item.deadline,
            owner_p.name,
            leader_p.name,
        )
        .outerjoin(owner_p, Item.owner_id == owner_p.id)
        .outerjoin(leader_p, Item.leader_id == leader_p.id)
        .order_by(Item.id)
    )
    if status is not None:
        stmt = stmt.where(Item.status == status)
    if overdue:  # derived, never stored: rectify.measures' rule, as a filter
        late = select(Measure.item_id).where(Measure.done_on.is_(None), Measure.deadline < today)
        stmt = stmt.where(Item.status.in_(rules.OVERDUE_STATUSES), Item.id.in_(late))
    if owner:
        stmt = stmt.where(owner_p.name == owner)
    if leader:
        stmt = stmt.where(leader_p.name == leader)
    if unreported:
        stmt = stmt.where(
            Item.code.in_(list(missed))
            if len(missed) < 500
            else Item.status.in_([Status.in_progress, Status.ongoing])
        )
    rows = session.execute(stmt).all()
    lights = rules.Lights(today, calendar, settings)
    # Two grouped queries for the whole list, joined here by id (as the report does).
    due = rules.open_deadlines(session)
    ongoing = rules.ongoing_lights(session, [r[0] for r in rows if r[2] is Status.ongoing], today)
    out = [
        list_row(
            code,
            st,
            category,
            source,
            department,
            description,
            owner_name,
            leader_name,
            deadline,
            due.get(id_),
            lights,
            ongoing.get(id_),
            missed.get(code),
        )
        for id_, code, st, category, source, department, description, deadline, owner_name, leader_name in rows
    ]
    return [r for r in out if r["unreported"]] if unreported else out


def _missed(session: Session, code: str, today: date) -> date | None:
    from rectify.reporting import unreported

    owing = unreported(session, today, codes=[code])
    return owing[0].period.due if owing else None


def _replayed(
    rows: list[dict],
    session: Session,
    as_of: date,
    status: Status | None,
    overdue: bool,
    lights: rules.Lights,
) -> list[dict]:
    from rectify.report.figures import deadlines_before_changes, status_as_of

    ids = dict(session.execute(select(Item.code, Item.id)).all())
    statuses = status_as_of(session, as_of)
    old_deadlines = deadlines_before_changes(session, as_of)
    open_due = rules.open_deadlines_as_of(session, as_of)  # measures done later were open
    out = []
    for row in rows:
        id_ = ids[row["code"]]
        if id_ not in statuses:
            continue  # not imported yet on as_of
        st = Status(statuses[id_])
        deadline = (
            old_deadlines[id_]
            if id_ in old_deadlines
            else (date.fromisoformat(row["deadline"]) if row["deadline"] else None)
        )
        row = {
            **row,
            "status": st.value,
            "status_label": st.label,
            **_deadline_fields(deadline, st, open_due.get(id_), lights),
        }
        if (status is None or st is status) and (not overdue or row["overdue"]):
            out.append(row)
    return out


def item_detail(session: Session, code: str, today: date, *, calendar=None, settings=None) -> dict:
    from rectify.extensions import extensions_of

    item = get_item(session, code)
    session.refresh(item, ["measures", "progress_notes", "evidence"])
    audit = session.scalars(
        select(AuditRecord).where(AuditRecord.item_id == item.id).order_by(AuditRecord.id)
    ).all()
    names = {p.id: p.name for p in session.scalars(select(Person))}
    lights = rules.Lights(today, calendar, settings)
    ongoing = rules.ongoing_lights(session, [item.id], today).get(item.id)
    due = rules.open_deadlines(session, [item.id]).get(item.id)
    return {
        "code": item.code,
        "status": item.status.value,
        "status_label": item.status.label,
        "source": item.source,
        "category": item.category,
        "description": item.description,
        "department": item.department,
        "remark": item.remark,
        "owner": item.owner.name if item.owner else None,
        "leader": item.leader.name if item.leader else None,
        **_deadline_fields(item.deadline, item.status, due, lights, ongoing),
        **_report_fields(_missed(session, item.code, today)),
        "reporting": item.reporting,
        "recheck_on": item.recheck_on.isoformat() if item.recheck_on else None,
        "register_date": item.register_date.isoformat(),
        "closed_on": item.closed_on.isoformat() if item.closed_on else None,
        "flow_run_id": item.flow_run_id,
        "measures": [
            {
                "number": n,
                "text": m.text,
                "deadline": m.deadline.isoformat() if m.deadline else None,
                "deadline_text": m.deadline_text,
                "original_deadline": m.original_deadline.isoformat() if m.original_deadline else None,
                "done_on": m.done_on.isoformat() if m.done_on else None,
                "done_by": names.get(m.done_by_id) if m.done_on else None,
                "done_note": m.done_note if m.done_on else None,
                "light": lights.of(item.status, None if m.done_on else m.deadline, ongoing),
            }
            for n, m in enumerate(item.measures, 1)
        ],
        "extensions": extensions_of(session, item.id),
        "progress": [
            {"day": p.day.isoformat(), "author": names.get(p.author_id), "note": p.note, "percent": p.percent}
            for p in item.progress_notes
        ],
        "evidence": [{"day": e.day.isoformat(), "ref": e.ref} for e in item.evidence],
        "audit": [
            {
                "day": a.day.isoformat(),
                "at": a.at.isoformat(),
                "actor": a.actor,
                "action": a.action,
                "action_label": ACTION_LABELS.get(a.action, a.action),
                "from": a.from_status,
                "to": a.to_status,
                "comment": a.comment,
                "details": a.details,
                "proof": a.proof,
                "os_account": a.os_account,
            }
            for a in audit
        ],
    }
