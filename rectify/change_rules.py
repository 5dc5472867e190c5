"""The checks a change to an item makes before it writes anything: the acting person's role or
tie to the item, the text it brings, and its business day.

One copy for every module that changes an item (rectify.workflow's transitions, the measures,
extensions and 回头看 of rectify.measures, rectify.extensions and rectify.recheck) and for the
importer's cells (the control-character patterns), so the same input is refused in the same
words whichever way it arrives. Each check raises a RectifyError whose message is the one
Chinese line the person sees; none writes.
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import AuditRecord, Item, Person, Role
from rectify.errors import Forbidden, InvalidInput, InvalidTransition
from rectify.workdays import FIRST_DAY, LAST_DAY

# Control characters, for the importer and these checks alike: they would reach terminals
# (`rectify show` replaying ESC sequences), email headers and Excel (which cannot store them).
# Short fields allow none; multi-line text keeps line breaks and tabs.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


# Business days outside this window are typing mistakes (9999-12-31, 0001-01-01) that the
# working-day arithmetic cannot even represent; the CLI, the flows and the domain share it.
def check_day(day: date) -> date:
    """A business day inside FIRST_DAY..LAST_DAY, or one Chinese line saying the window."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(
            f"业务日期 {day.isoformat()} 超出有效范围（{FIRST_DAY.isoformat()} 至 {LAST_DAY.isoformat()}）"
        )
    return day


def check_item_day(session: Session, item: Item, day: date) -> None:
    """The trail runs forwards: a change dated before the item's latest record would put, say,
    the closure before the submission, and the report's as-of replay would then tell a story
    that never happened."""
    check_day(day)
    latest = session.scalar(select(func.max(AuditRecord.day)).where(AuditRecord.item_id == item.id))
    if latest is not None and day < latest:
        raise InvalidTransition(
            f"业务日期 {day.isoformat()} 早于事项 {item.code} 最近一条操作记录的日期 "
            f"{latest.isoformat()}，不能倒填"
        )


def require_role(person: Person, role: Role, what: str) -> None:
    if person.role is not role:
        raise Forbidden(f"{person.name}（{person.role.label}）无权{what}，仅{role.label}可以")


def require_item_person(person: Person, item: Item, what: str) -> None:
    if person.id not in (item.owner_id, item.leader_id):
        raise Forbidden(f"{person.name} 不是事项 {item.code} 的责任人或责任领导，无权{what}")


# Evidence is a list of paths or links, kept in the audit record and shown in the review form.
MAX_EVIDENCE, MAX_EVIDENCE_LENGTH = 20, 1000


def clean(text: str | None, what: str, *, multiline: bool = True) -> str:
    """Stripped text without control characters (Windows line ends become \\n)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    bad = (TEXT_CONTROL_RE if multiline else CONTROL_RE).search(text)
    if bad:
        raise InvalidInput(
            f"{what}第{bad.start() + 1}个字符是不可见的控制字符（U+{ord(bad.group()):04X}），请删除后重试"
        )
    return text


def require_text(text: str | None, what: str) -> str:
    text = clean(text, what)
    if not text:
        raise InvalidTransition(f"{what}不能为空")
    return text
