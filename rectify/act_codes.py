"""The code and the link an act email carries: a person's fresh 验证码 for one step of one item,
and what the email says about it (form, item, expiry, the link to the item's run).

Issued in the caller's transaction (rectify.codes), so the email that shows the code and the
code itself exist together or not at all; rectify.acting decides who gets which email, and
rectify.links binds the link and the code into the email when it is sent.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from models import Item, Person
from models.base import utcnow
from rectify import codes, links
from rectify.settings import get_settings


def run_link(item: Item) -> str | None:
    """<RECTIFY_UI_URL>/runs/flow-run/<id>, bound to the item's run when the email is sent
    (rectify.links: the run may not exist yet, or be repaired before then); None without a UI
    address."""
    return links.run_link(get_settings().ui_url, item.id)


# 交办确认 (step "intake") is a form on the intake run, not on an item's run: where to find it
INTAKE_STEP = "intake"
INTAKE_RUN = "本次导入整改清单的流程运行（名称以“导入”开头，标签“待交办确认”）"


def _place(item: Item, step: str) -> dict:
    if step == INTAKE_STEP:  # the intake run's link, when known, is set by its caller
        return {"link": None, "where": INTAKE_RUN}
    return {"link": run_link(item)}


def act_context(session: Session, person: Person, item: Item, step: str) -> dict:
    """A fresh code for the person's step and what the email says about it."""
    return act_contexts(session, person, [(item, step)])[0]


def act_contexts(session: Session, person: Person, wanted: list[tuple[Item, str]]) -> list[dict]:
    """`act_context` for many (item, step) of one person: their codes issued at once
    (codes.issue_many: two statements, not two per item; a 1,000-item register's 交办)."""
    ttl = get_settings().code_ttl_days
    plain = codes.issue_many(session, [(person.id, item.id, step) for item, step in wanted], ttl_days=ttl)
    expires = (utcnow() + timedelta(days=ttl)).date()
    return [
        {
            "code": plain[(person.id, item.id, step)],
            **_place(item, step),
            "form": codes.STEP_LABELS[step],
            "item": item.code,
            "expires": expires,
        }
        for item, step in wanted
    ]
