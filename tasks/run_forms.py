"""The forms of runs created already waiting: what is stored, and how it reaches the server.

What: exactly what `RunInput.asave` stores for the flow's own `suspend_flow_run(wait_for_input=…)`:
the form's JSON schema (the UI builds the Resume form from it, the server validates a resume
against it) and its description (the Markdown above the fields), as JSON texts under the
wait's keyset (`suspended-<key>-schema`, `-description`).

How: the guarded server (`rectify server`, every documented set-up) takes the forms of many
runs in one call (`POST /api/rectify/run_forms`, flows/server_forms.py), one transaction for
up to LIMIT inputs; a server without that route (a plain `prefect server start`: 404) gets one
input per call, `RECTIFY_RUN_CREATE_CONCURRENCY` runs at once, as Prefect's own client sends
them. Either way an input the run already has is kept as it is (a repeat after a retry or an
intake started again) and transient errors are retried in tasks.prefect_api; the route also
leaves out a form for a run that no longer waits at that key (a person acted meanwhile: there
is nothing left to show) and reports runs that are gone (RunsGone).

Why one call: on the embedded SQLite server an input request costs about 8 ms of the server's
one core, mostly the request itself, and two per run were a third of a 1,000-item intake
(measured in docs/runs-at-scale.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson
from prefect.client.orchestration import PrefectClient
from prefect.input.run_input import RunInput

from tasks import prefect_api as api

PATH = "/rectify/run_forms"  # on the API app: /api/rectify/run_forms
LIMIT = 1000  # inputs per call (500 runs' forms); the server refuses more


def form_values(form: type[RunInput]) -> dict[str, str]:
    """What RunInput.asave stores, as the JSON texts it sends: the schema and the description."""
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    values = {"schema": orjson.dumps(create_v2_schema(form.__name__, model_base=form)).decode()}
    if isinstance(form._description, str):
        values["description"] = orjson.dumps(form._description).decode()
    return values


class FormValues:
    """form_values(build_form(wait)) for the many waits of one intake, each schema built once.

    A wait's schema depends only on its step, title and fields (flows/forms.build_form); what
    differs from item to item with the same fields is the description, which is taken as it
    is. Building the pydantic model and its schema is about 2 ms of the intake's CPU per run,
    spent while the server waits for the next call (tests/test_forms.py checks the result
    against building each form on its own)."""

    def __init__(self, build_form: Callable[[Any], type[RunInput]]):
        self.build_form = build_form
        self.schemas: dict[tuple, dict[str, str]] = {}

    def __call__(self, wait) -> dict[str, str]:
        shape = (wait.step, wait.title, repr(wait.fields))
        if shape not in self.schemas:
            self.schemas[shape] = form_values(self.build_form(wait))
        values = dict(self.schemas[shape])
        values["description"] = orjson.dumps(wait.description).decode()
        return values


class RunsGone(RuntimeError):
    """Runs deleted between their creation and their forms (the next sweep repairs them)."""


async def save_forms(client: PrefectClient, forms: list[tuple[UUID, dict, dict[str, str]]]) -> None:
    """Each (run id, keyset, values): every value under its part's key of the keyset."""
    inputs = [
        {"flow_run_id": str(run_id), "key": keyset[part], "value": value}
        for run_id, keyset, values in forms
        for part, value in values.items()
    ]
    for start in range(0, len(inputs), LIMIT):
        chunk = inputs[start : start + LIMIT]
        try:
            response = await api.call(client.request, "POST", PATH, json=chunk, what="save forms")
        except Exception as exc:
            if api.status_of(exc) != 404:
                raise
            return await _one_by_one(client, inputs[start:])  # no such route: Prefect's own server
        if missing := response.json()["missing"]:
            raise RunsGone(f"{len(missing)}个流程运行在保存表单前已被删除（{missing[0]}）")


async def _one_by_one(client: PrefectClient, inputs: list[dict]) -> None:
    gate = asyncio.Semaphore(2 * api.create_concurrency())

    async def save(one: dict) -> None:
        async with gate:
            try:
                await api.call(
                    client.create_flow_run_input,
                    UUID(one["flow_run_id"]),
                    key=one["key"],
                    value=one["value"],
                    what="save form",
                )
            except Exception as exc:  # 409: saved by an earlier attempt, keep it
                if api.status_of(exc) != 409:
                    raise

    await asyncio.gather(*(save(one) for one in inputs))
