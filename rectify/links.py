"""Links to an item's run in emails, bound when the email is sent, not when it is written.

An email is rendered in the transaction of the decision that queues it (the outbox keeps what
was decided), but the run it should point to may not exist yet (the intake renders its 交办
notices before it creates the runs) or may be replaced before the email goes out (a repaired
run, tasks/run_repair.py). So the rendered body carries `<RECTIFY_UI_URL>/runs/flow-run/
[[run:<item id>]]` and delivery (rectify.delivery) puts in the item's run id as the ledger says
at that moment, with one SELECT per chunk. An item without a run (yet) gets the UI's run list
(`<base>/runs`), where the run is found by its name or worklist tag.

No Prefect, no settings read at send time: the base address is the one the email was
rendered with.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Item

TOKEN = "[[run:{item_id}]]"
_LINK = re.compile(r"(https?://[^\s\"'<>\[\]]*?)/runs/flow-run/\[\[run:(\d+)\]\]")
_ID = re.compile(r"\[\[run:(\d+)\]\]")


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


def bind(text: str, runs: dict[int, str | None]) -> str:
    """Each late-bound link with the item's current run, or the run list when it has none."""
    if not text or "[[run:" not in text:
        return text

    def one(m: re.Match) -> str:
        run = runs.get(int(m.group(2)))
        return f"{m.group(1)}/runs/flow-run/{run}" if run else f"{m.group(1)}/runs"
    return _LINK.sub(one, text)
