"""Driving an item's flow run in the tests: start a run of the item deployment, execute it in
this process, resume it with a form, read its description, tags and the ledger's record of it.
Shared by the item-flow, measures, waiting-run and acting tests (a test module imports from
here, never from another test module).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from ledger_helpers import DAY, PEOPLE, dump
from mail_codes import latest_act
from models import AuditRecord, Item, Status
from models.db import session_factory
from rectify import item_process
from rectify.settings import get_settings
from rectify.waits import WAIT_TAGS


CODE = "ZG-2026-001"


EMAIL = {name: f"p{i}@example.gov.cn" for i, name in enumerate(PEOPLE)}


def start(deployment_id, code: str = CODE, secretary: str | None = "陈静") -> UUID:
    """A run as the console's intake leaves it: the assignment signed by `secretary` in the
    ledger first (no run parameter signs: issue #9); None: the run waits for the 交办 form."""
    from prefect.client.orchestration import get_client

    if secretary:
        url = get_settings().database_url
        assert item_process.assign_from_register(url, code, DAY, secretary) is None
        from flows.item import _deliver

        _deliver()  # the intake delivers the 交办通知 it queued
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(
            deployment_id,
            name=f"{code} 问题",
            parameters={"code": code, "title": "问题", "day": DAY.isoformat()},
        )
    link(code, run.id)
    return run.id


def link(code: str, run_id: UUID, replacing: UUID | None = None) -> None:
    """Register the run as the item's, as the intake (or the repair) does: a form acts only
    through the item's linked run (rectify.item_process.linked_run_only)."""
    with item_process.transaction(get_settings().database_url) as session:
        assert item_process.link_run(
            session, code, str(run_id), replacing=str(replacing) if replacing else None
        )


def execute(run_id: UUID, flow=None):
    """Run the flow for this run (the item flow unless told) like a worker would, until it
    suspends or finishes."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Pause
    from prefect.flow_engine import run_flow

    from flows.item import rectification_item

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        try:
            run_flow(flow or rectification_item, flow_run=run, parameters=run.parameters, return_type="state")
        except Pause:
            pass
        return client.read_flow_run(run_id)


def resume(run_id: UUID, **form) -> None:
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input=form)


def description(run, part: str = "description"):
    """The form's description (or its JSON schema) for the run's current wait, as the UI reads it."""
    import json

    from prefect.client.orchestration import get_client

    key = f"suspended-{run.state.state_details.pause_key}-{part}"
    with get_client(sync_client=True) as client:
        value = client.read_flow_run_input(run.id, key)
    return json.loads(value)  # stored as JSON, as the UI receives it


def actions(url: str, code: str = CODE) -> list[tuple[str, str]]:
    with session_factory(url)() as s:
        item = s.scalars(select(Item).where(Item.code == code)).one()
        return [
            (a.action, a.actor)
            for a in s.scalars(
                select(AuditRecord).where(AuditRecord.item_id == item.id).order_by(AuditRecord.id)
            )
        ]


def status(url: str, code: str = CODE) -> Status:
    with session_factory(url)() as s:
        return s.scalar(select(Item.status).where(Item.code == code))


def waits_at(run, key: str) -> bool:
    return run.state.is_paused() and run.state.state_details.pause_key == key


def code(name: str, form: str) -> str:
    """The person's code for `form`, read from the newest .eml the system sent them."""
    return latest_act(get_settings().outbox_dir, EMAIL[name], form)[0]


def tags(run_id: UUID) -> set[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return set(client.read_flow_run(run_id).tags) & set(WAIT_TAGS.values())


def ledger_without_tries(url: str) -> dict:
    d = dump(url)
    d["action_codes"] = [row[:-2] for row in d["action_codes"]]  # wrong_tries, tried_keys
    return d


def refused_form(run_id: UUID, ledger: str, key: str, expect: str, **form):
    """A resume the run refuses: nothing in the ledger changes (the code's try count aside),
    the run waits again under the next key with the reason at the top and the entries kept."""
    before = ledger_without_tries(ledger)
    resume(run_id, **form)
    run = execute(run_id)
    assert waits_at(run, key), run.state
    assert ledger_without_tries(ledger) == before
    text = description(run)
    assert text.startswith("**上次提交未被受理：") and expect in text.split("\n", 1)[0], text
    return run
