"""Read-side queries for `list` and `show`: one SELECT each, no Prefect, plain dicts.

The dict keys are the documented, stable `--json` format (see README "JSON output").
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from models import AuditRecord, Item, Person, Status
from rectify.workflow import ACTION_LABELS, get_item


def _deadline_fields(deadline: date | None, status: Status, today: date) -> dict:
    overdue = deadline is not None and status.is_open and status is not Status.ongoing and deadline < today
    return {
        "deadline": deadline.isoformat() if deadline else None,
        "deadline_label": deadline.isoformat() if deadline else "长期坚持",
        "overdue": overdue,
    }


def list_items(session: Session, today: date, *, status: Status | None = None,
               overdue: bool = False, owner: str | None = None, leader: str | None = None) -> list[dict]:
    owner_p, leader_p = aliased(Person), aliased(Person)
    stmt = (
        select(Item.code, Item.status, Item.category, Item.source, Item.department,
               Item.description, Item.deadline, owner_p.name, leader_p.name)
        .outerjoin(owner_p, Item.owner_id == owner_p.id)
        .outerjoin(leader_p, Item.leader_id == leader_p.id)
        .order_by(Item.id)
    )
    if status is not None:
        stmt = stmt.where(Item.status == status)
    if overdue:  # derived, never stored: open, not ongoing, deadline before today
        stmt = stmt.where(Item.status.in_([Status.new, Status.in_progress, Status.leader_review, Status.submitted]),
                          Item.deadline < today)
    if owner:
        stmt = stmt.where(owner_p.name == owner)
    if leader:
        stmt = stmt.where(leader_p.name == leader)
    return [
        {
            "code": code, "status": st.value, "status_label": st.label, "category": category,
            "source": source, "department": department, "description": description,
            "owner": owner_name, "leader": leader_name, **_deadline_fields(deadline, st, today),
        }
        for code, st, category, source, department, description, deadline, owner_name, leader_name
        in session.execute(stmt)
    ]


def item_detail(session: Session, code: str, today: date) -> dict:
    item = get_item(session, code)
    session.refresh(item, ["measures", "progress_notes", "evidence"])
    audit = session.scalars(
        select(AuditRecord).where(AuditRecord.item_id == item.id).order_by(AuditRecord.id)
    ).all()
    names = {p.id: p.name for p in session.scalars(select(Person))} if item.progress_notes else {}
    return {
        "code": item.code, "status": item.status.value, "status_label": item.status.label,
        "source": item.source, "category": item.category, "description": item.description,
        "department": item.department, "remark": item.remark,
        "owner": item.owner.name if item.owner else None,
        "leader": item.leader.name if item.leader else None,
        **_deadline_fields(item.deadline, item.status, today),
        "register_date": item.register_date.isoformat(),
        "closed_on": item.closed_on.isoformat() if item.closed_on else None,
        "flow_run_id": item.flow_run_id,
        "measures": [
            {"text": m.text, "deadline": m.deadline.isoformat() if m.deadline else None,
             "deadline_text": m.deadline_text}
            for m in item.measures
        ],
        "progress": [
            {"day": p.day.isoformat(), "author": names.get(p.author_id), "note": p.note, "percent": p.percent}
            for p in item.progress_notes
        ],
        "evidence": [{"day": e.day.isoformat(), "ref": e.ref} for e in item.evidence],
        "audit": [
            {"day": a.day.isoformat(), "at": a.at.isoformat(), "actor": a.actor, "action": a.action,
             "action_label": ACTION_LABELS.get(a.action, a.action), "from": a.from_status,
             "to": a.to_status, "comment": a.comment, "details": a.details,
             "proof": a.proof, "os_account": a.os_account}
            for a in audit
        ],
    }
