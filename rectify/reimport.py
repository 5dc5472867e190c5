"""Re-import after assignment: a three-way comparison for the fields the CLI can also change.

`rectify assign` changes an item's owner, leader and department; the register keeps saying
what it said. Overwriting the ledger with the register on every re-import would silently undo
the secretary's assignment. So each of these fields is decided from three values: what the
register said at the last import (Item.imported, the base), what it says now, and what the
ledger holds:

    register unchanged since the last import   -> the ledger's value stands
    register changed, ledger still the base     -> the register's new value
    both changed, to the same value             -> that value
    both changed, differently (a conflict)      -> the ledger's value stands; a 提示 line and
                                                   an audit record (import_conflict) say so

The base is then the register's current value, so the same conflict is not reported again by
the next import of the same register.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.orm import Session

from models import Item

logger = logging.getLogger("rectify.importer")

# Item columns the command line can change after an import (rectify.workflow.assign).
ASSIGNABLE = ("owner_id", "leader_id", "department")
LABELS = {"owner_id": "责任人", "leader_id": "责任领导", "department": "责任部门"}


def register_values(values: dict) -> dict:
    """The base to store on the item: what this import's register says."""
    return {key: values[key] for key in ASSIGNABLE}


def merge(item: Item, values: dict, names: dict[int, str]) -> list[dict]:
    """Decide each assignable field in `values` (changed in place); returns the conflicts."""
    base = item.imported if item.imported is not None else {}
    conflicts = []
    for key in ASSIGNABLE:
        theirs, ours = values[key], getattr(item, key)
        # Items imported before the base was stored: the ledger's value is the base.
        was = base[key] if key in base else ours
        if theirs == was or theirs == ours:
            values[key] = ours
        elif ours != was:
            show = (
                (lambda v: names.get(v, "（空）") if v is not None else "（空）")
                if key.endswith("_id")
                else (lambda v: v or "（空）")
            )
            conflicts.append(
                {"field": LABELS[key], "base": show(was), "register": show(theirs), "ledger": show(ours)}
            )
            values[key] = ours
    return conflicts


def report_conflicts(
    session: Session, item: Item, conflicts: list[dict], actor: str, day: date, row: int
) -> None:
    """One 提示 line and one audit record per conflict (the ledger's value was kept)."""
    from rectify.workflow import record

    for c in conflicts:
        text = (
            f"{item.code} 的{c['field']}：整改清单由“{c['base']}”改为“{c['register']}”，"
            f"但台账中已调整为“{c['ledger']}”，保留台账中的“{c['ledger']}”"
        )
        logger.warning("%s（如需采用整改清单的值，请用 rectify assign 调整）", text)
        record(session, item, actor, day, "import_conflict", comment=text, details={"row": row, **c})
