"""The forms' JSON schemas as the Prefect UI renders them and its server validates them.

Seen in the UI: a choice with one name rendered "… is a const and cannot be changed", and an
optional date "Property is type None". Every form the ledger can ask for (交办, 销号申请,
延期审批, 领导审核, 销号审核, 进展报送) is built here from a real ledger and checked for both, and the
server's own validation (prefect.utilities.schema_tools.validate, as resume_flow_run calls it)
still refuses a name not in the list, an extra field and an over-long text, and accepts an
optional field left out (what the UI sends when it is left empty).
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import delete

from ledger_helpers import DAY, add_item, add_people
from models import Extension, Person, Status
from models.db import session_factory
from rectify import waits


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.fixture
def all_waits(sqlite_url, settings_env):
    """One item in each state a run waits in, with one secretary only (a one-name choice)."""
    settings_env(sqlite_url)
    with session_factory(sqlite_url)() as s, s.begin():
        people = add_people(s)
        s.execute(delete(Person).where(Person.name == "王芳"))
        owner, leader = people["刘洋"], people["周建国"]
        add_item(s, "A-NEW", Status.new, owner=owner, leader=leader)
        add_item(s, "A-WORK", Status.in_progress, owner=owner, leader=leader)
        add_item(s, "A-ONGOING", Status.ongoing, owner=owner, leader=leader, deadline=None)
        add_item(s, "A-SIGN", Status.leader_review, owner=owner, leader=leader, submitted_by=owner)
        add_item(s, "A-REVIEW", Status.submitted, owner=owner, leader=leader, submitted_by=owner)
        ext = add_item(s, "A-EXT", Status.in_progress, owner=owner, leader=leader)
        s.add(
            Extension(
                item_id=ext.id,
                position=0,
                measure_text="措施一",
                old_deadline=date(2026, 12, 31),
                new_deadline=date(2027, 1, 29),
                reason="需要协调",
                requested_by_id=owner.id,
                requested_on=DAY,
                status="pending",
            )
        )
    with session_factory(sqlite_url)() as s:
        return {
            code: waits.current_wait(s, code)
            for code in ("A-NEW", "A-WORK", "A-ONGOING", "A-SIGN", "A-REVIEW", "A-EXT")
        }


def test_every_form_renders_without_const_or_null_branches(all_waits):
    from flows.forms import build_form

    steps = {code: w.step for code, w in all_waits.items()}
    assert steps == {
        "A-NEW": "assign",
        "A-WORK": "submit",
        "A-ONGOING": "progress",
        "A-SIGN": "leader_review",
        "A-REVIEW": "review",
        "A-EXT": "extend",
    }
    for code, wait in all_waits.items():
        schema = build_form(wait).model_json_schema()
        text = json.dumps(schema, ensure_ascii=False)
        assert "const" not in [k for node in _walk(schema) for k in node], (code, text)
        assert not [n for n in _walk(schema) if n.get("type") == "null"], (code, text)
        assert not [n for n in _walk(schema) if "anyOf" in n], (code, text)
        for name, prop in schema["properties"].items():
            assert prop["title"] and not prop["title"].isascii(), (code, name)  # Chinese titles
            assert prop.get("default", "") is not None, (code, name)
    review = build_form(all_waits["A-REVIEW"]).model_json_schema()["properties"]
    assert review["reviewer"]["enum"] == ["陈静"] and review["reviewer"]["default"] == "陈静"
    assert review["recheck_on"] == {
        "title": "复核日期（回头看）",
        "description": review["recheck_on"]["description"],
        "type": "string",
        "format": "date",
    }
    signoff = build_form(all_waits["A-SIGN"]).model_json_schema()["properties"]
    assert signoff["reviewer"]["enum"] == ["周建国"]


def test_the_server_still_validates_what_the_ui_sends(all_waits):
    from prefect.utilities.schema_tools import ValidationError, validate

    from flows.forms import build_form

    form = build_form(all_waits["A-REVIEW"])
    schema = form.model_json_schema()
    good = {"decision": "同意销号", "comment": "", "reviewer": "陈静", "code": "123456"}
    validate(good, schema, raise_on_error=True)  # the date left out, as the UI leaves it
    assert form(**good).recheck_on is None
    validate({**good, "recheck_on": "2027-03-01"}, schema, raise_on_error=True)
    for bad in (
        {**good, "reviewer": "刘洋"},
        {**good, "extra": "x"},
        {**good, "comment": "长" * (waits.COMMENT_MAX + 1)},
    ):
        with pytest.raises(ValidationError):
            validate(bad, schema, raise_on_error=True)
    submit = build_form(all_waits["A-WORK"]).model_json_schema()
    with pytest.raises(ValidationError):
        validate({"summary": "x" * 100_000, "submitter": "刘洋", "code": "1"}, submit, raise_on_error=True)
    validate({"summary": "完成", "submitter": "刘洋", "code": "1"}, submit, raise_on_error=True)


def test_an_intakes_forms_are_the_forms_built_one_by_one(all_waits):
    """tasks.waiting_runs.FormValues builds each schema once per shape of wait; what it stores
    for every run is exactly what building that run's form on its own would store."""
    from dataclasses import replace

    from flows.forms import build_form
    from tasks.run_forms import FormValues, form_values

    built = []
    values_of = FormValues(lambda wait: built.append(wait.step) or build_form(wait))
    many = [
        *all_waits.values(),
        *(
            replace(w, description=f"{w.description}\n\n另一项：{i}")
            for i, w in enumerate(all_waits.values())
        ),
        replace(
            all_waits["A-WORK"], fields=[replace(f, default="已整改") for f in all_waits["A-WORK"].fields]
        ),
    ]
    for wait in many:
        assert values_of(wait) == form_values(build_form(wait)), wait.step
    # six shapes, then the same six with other descriptions, then one with other defaults
    assert sorted(built) == sorted([*(w.step for w in all_waits.values()), "submit"])
