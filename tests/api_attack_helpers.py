"""What anyone holding the shared UI password can do through Prefect's API, for the tests of
issue #9's routes (test_acting_routes, test_stored_inputs, test_measures_flow): write a wait's
input directly, force a state, swap a form's schema; and the check those tests share."""

from __future__ import annotations

import json
from uuid import UUID


def client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def write_input(run_id: UUID, key: str, value: dict) -> None:
    """What `POST /api/flow_runs/{id}/input` lets anyone with the API do: a wait's response,
    written directly, never checked against the form's schema by the server."""
    with client() as c:
        c.create_flow_run_input(run_id, key=f"suspended-{key}-response", value=json.dumps(value))


def force(run_id: UUID, state) -> None:
    """`POST /api/flow_runs/{id}/set_state` with force: any state, no rule applies."""
    with client() as c:
        c.set_flow_run_state(run_id, state, force=True)


def permissive_schema(run_id: UUID, key: str) -> None:
    """Replace the wait's stored schema with one the server accepts anything against."""
    with client() as c:
        c.delete_flow_run_input(run_id, f"suspended-{key}-schema")
        c.create_flow_run_input(run_id, key=f"suspended-{key}-schema", value=json.dumps({"type": "object"}))


def unchanged_but_codes(before: dict, after: dict) -> None:
    """The whole ledger but the codes and the emails about them is as it was."""
    for table in before:
        if table not in ("action_codes", "outbox", "reminder_lines"):
            assert after[table] == before[table], table
