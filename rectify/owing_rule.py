"""The rule "owes a progress report" (定期报送, rectify.reporting's docstring) as one SQL condition.

Two readers ask it: rectify.reporting through SQLAlchemy (the sweep, the report, `rectify list`
in the typer app) and the lean read path (rectify.cli.lean, plain sqlite3, which must not import
SQLAlchemy: it is what keeps `rectify list`/`show` fast). A SQL text both can run is the one copy
of the rule; this module imports neither SQLAlchemy nor the models' tables, only the statuses.

Named parameters: :kind (the cadence kind), :start (the period's start) and :until (the last day
a note counts for: the due day, or today for the sweep's rungs).
"""

from __future__ import annotations

from rectify.periods import REPORTING_STATUSES

# Status values are the domain's constants, not input: written into the text, so the condition
# needs no list parameter (which sqlite3 and SQLAlchemy would expand differently).
_STATUSES = ", ".join(f"'{s.value}'" for s in REPORTING_STATUSES)


def owing_condition(default_kind: bool) -> str:
    """Items of cadence :kind (their own 汇报频次, or none when :kind is the setting's:
    `default_kind`), reporting (整改中 or 长期坚持, with an owner), registered by :start, and
    with no progress note in (:start, :until]."""
    kind = (
        "(items.reporting = :kind OR items.reporting IS NULL)" if default_kind else "items.reporting = :kind"
    )
    return (
        f"{kind} AND items.status IN ({_STATUSES}) AND items.owner_id IS NOT NULL"
        " AND items.register_date <= :start"
        " AND NOT EXISTS (SELECT 1 FROM progress_notes WHERE progress_notes.item_id = items.id"
        " AND progress_notes.day > :start AND progress_notes.day <= :until)"
    )
