"""What an email carries that is bound when it is sent, not when it is written: the links to
item runs and the 验证码. The one place both are bound (rectify.delivery calls `resolve` and
`bind`).

An email is rendered in the transaction of the decision that queues it (the outbox keeps what
was decided), but the run it should point to may not exist yet (the intake renders its 交办
notices before it creates the runs) or may be replaced before the email goes out (a repaired
run, tasks/run_repair.py). So the rendered body carries `<RECTIFY_UI_URL>/runs/flow-run/
[[run:<item id>]]` and delivery (rectify.delivery) puts in the item's run id as the ledger says
at that moment, with one SELECT per chunk. An item without a run (yet) gets the UI's run list
(`<base>/runs`), where the run is found by its name or worklist tag.

The 验证码 likewise: the outbox stores `[[code:<code id>]]`, never the code (no secret in the
ledger, rectify.codes), and delivery derives each code with the key kept outside the ledger.
So the .eml file or the SMTP message carries the code, and nothing recorded of it in the
database does. A code voided before the email goes is shown as a note saying so.

No Prefect here; the base address is the one the email was rendered with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Item
from rectify import codes

TOKEN = "[[run:{item_id}]]"
_LINK = re.compile(r"(https?://[^\s\"'<>\[\]]*?)/runs/flow-run/\[\[run:(\d+)\]\]")
_ID = re.compile(r"\[\[run:(\d+)\]\]")
_CODE = re.compile(r"\[\[code:(\d+)\]\]")


def run_link(base: str | None, item_id: int) -> str | None:
    """The late-bound link of an item's run, or None without a UI address."""
    base = (base or "").strip().rstrip("/")
    if not base:
        return None
    return f"{base}/runs/flow-run/" + TOKEN.format(item_id=item_id)


def item_ids(*texts: str) -> set[int]:
    return {int(m) for text in texts if text for m in _ID.findall(text)}


def run_ids(session: Session, ids: set[int]) -> dict[int, str | None]:
    if not ids:
        return {}
    return dict(session.execute(select(Item.id, Item.flow_run_id).where(Item.id.in_(sorted(ids)))).all())


@dataclass
class Bound:
    """What the tokens of a set of emails stand for now: runs by item id, codes by code id."""

    runs: dict[int, str | None] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)


def resolve(session: Session, texts) -> Bound:
    """One SELECT for the runs and one for the codes of every token in `texts`. Raises
    codes.OtherKey when a code was issued under another key (rectify.code_key)."""
    texts = [t for t in texts if t]
    return Bound(run_ids(session, item_ids(*texts)), codes.reveal(session, code_ids(*texts)))


def bind(text: str, bound: Bound) -> str:
    """Each late-bound link with the item's current run (the run list when it has none), each
    code token with the code (or the note of a code voided meanwhile)."""
    if not text or "[[" not in text:
        return text
    runs, plain = bound.runs, bound.codes

    def one(m: re.Match) -> str:
        run = runs.get(int(m.group(2)))
        return f"{m.group(1)}/runs/flow-run/{run}" if run else f"{m.group(1)}/runs"

    text = _LINK.sub(one, text)
    return _CODE.sub(lambda m: plain.get(int(m.group(1)), codes.GONE_NOTE), text)


def code_ids(*texts: str) -> set[int]:
    return {int(m) for text in texts if text for m in _CODE.findall(text)}


def resolve_runs(session: Session, texts) -> Bound:
    """The runs only (this process cannot derive the codes)."""
    return Bound(run_ids(session, item_ids(*(t for t in texts if t))))
