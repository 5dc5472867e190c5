"""The RunInput class of a wait, built in one place from rectify.waits.Wait.

Built when the run waits, so a person field offers exactly the ledger's people with the right
role at that moment (a `Literal` of their names: the JSON schema has an `enum`, which the
Prefect UI shows as a drop-down and the server's resume validation enforces), and every field
carries its default: what the ledger knows, or what the person entered before a refusal. Text
fields have a maximum length and the model forbids extra fields (RunInput's extra="forbid"), so
the server refuses a 100,000-character summary or an unknown field before the run sees it.
The schema is written for the Prefect UI's form: a one-name choice is an `enum` (not `const`), an
optional date or number has its one type (no `null` branch); see _enum_only, _without_null.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Optional

from prefect.input import RunInput
from pydantic import Field, StringConstraints, create_model

from rectify.waits import EVIDENCE_MAX_ITEMS, Wait

FORM_NAMES = {
    "intake": "IntakeConfirm",
    "assign": "AssignForm",
    "submit": "ClosureSubmission",
    "extend": "ExtensionReview",
    "leader_review": "LeaderSignoff",
    "review": "ClosureReview",
    "progress": "ProgressReport",
}


def _enum_only(choices: tuple[str, ...]):
    def extra(schema: dict) -> None:
        schema.pop("const", None)
        schema["enum"] = list(choices)

    return extra


def _without_null(schema: dict) -> None:
    """An optional field as the UI can render it: its one type, no `{"type": "null"}` branch
    (the UI shows that branch as "Property is type None") and no `null` default. Left empty,
    the UI leaves the field out of the input and the model's default (None) applies."""
    branches = [b for b in schema.pop("anyOf", ()) if b.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])
    if schema.get("default", ...) is None:
        del schema["default"]


def _field(f):
    required = f.default is None or (f.kind == "choice" and f.default not in f.choices)
    default = ... if required else f.default
    if f.kind == "choice" and f.choices:
        # enum even for a single name: pydantic writes `const` for a one-value Literal, which
        # the UI shows as "… is a const and cannot be changed" instead of a drop-down
        return Literal[f.choices], Field(
            default, title=f.title, description=f.description, json_schema_extra=_enum_only(f.choices)
        )
    if f.kind == "multi":  # several of the choices (交办确认's items), all optional
        return list[Literal[f.choices]], Field(
            list(f.default or []), title=f.title, description=f.description
        )
    if f.kind == "numbers":  # measure numbers (第几条), optional
        return list[int], Field(
            list(f.default or []), title=f.title, description=f.description, max_length=EVIDENCE_MAX_ITEMS
        )
    if f.kind in ("number", "date"):  # optional: None when left empty
        scalar = int if f.kind == "number" else date
        return Optional[scalar], Field(
            f.default, title=f.title, description=f.description, json_schema_extra=_without_null
        )
    if f.kind == "list":
        item = Annotated[str, StringConstraints(max_length=f.max_length)]
        return list[item], Field(
            list(f.default or []), title=f.title, description=f.description, max_length=EVIDENCE_MAX_ITEMS
        )
    return str, Field(default, title=f.title, description=f.description, max_length=f.max_length)


def build_form(wait: Wait) -> type[RunInput]:
    """The form for this wait, with its description (the Markdown above the fields)."""
    model = create_model(
        FORM_NAMES[wait.step],
        __base__=RunInput,
        __doc__=wait.title,
        **{f.name: _field(f) for f in wait.fields},
    )
    return model.with_initial_data(description=wait.description)
