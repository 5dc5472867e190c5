"""Item runs that exist already waiting for their form, without a process ever executing them.

Executing a run only so that it can suspend itself costs a Python process per item (seconds of
CPU to import Prefect): a 1,000-item register took minutes and swamped the server. Instead the
intake creates each run and leaves it exactly as the flow's own
`suspend_flow_run(wait_for_input=form, key=key)` would have (prefect/flow_runs.py, 3.9.1):

1. the run is created in a RUNNING state (the server sets a new run's first state with force);
2. a `Suspended` state with the wait's `pause_key` and the run-input keyset derived from it is
   *proposed*, not forced: the server's `HandlePausingFlows` rule accepts it only from RUNNING
   and records the key in the run's `pause_keys` (a forced state would skip that, and the
   resumed run's own suspend with this key would then wait again instead of reading the input);
3. the form's JSON schema and description are saved under that keyset, as `RunInput.save` does.

A person's Resume (the UI form, `POST /api/flow_runs/{id}/resume`, `rectify submit`) is then
validated by the server against the schema and stored under the keyset; the run is rescheduled,
a worker executes it from the top, the flow reaches the same key (the same
`rectify.waits.current_wait` of the same ledger, attempt 0: `<key_base>-0`) and Prefect hands
back the stored input. The run is created with the wait's worklist tag (待交办 · 待提交 …), as
the flow's own `set_wait_tag` would have set it.

Each step is safe to repeat: a run found RUNNING is suspended, a run already suspended at the
key only gets its form saved again (an existing input is left as it is), so an intake killed
anywhere and started again finishes the job.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import orjson
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.responses import SetStateStatus
from prefect.input.run_input import RunInput, keyset_from_paused_state, run_input_subclass_from_type
from prefect.states import Running, Suspended

from tasks import prefect_api as api


class NotWaitable(RuntimeError):
    """The run is neither freshly created nor suspended at the key (someone acted on it)."""


async def suspend_waiting(client: PrefectClient, flow_run_id: UUID, key: str,
                          form: type[RunInput], description: str | None, state=None) -> bool:
    """Leave the run suspended at `key` with `form` (and `description`) registered.

    Returns True when the run now waits at `key` (whether this call or an earlier one put it
    there), False when it is somewhere else: executing, waiting at another key, resumed or
    finished, which only a person or a worker could have caused, and which is left alone.
    `state`: the run's state when the caller has just read it (saves a call).
    """
    form = run_input_subclass_from_type(
        form.with_initial_data(description=description) if description is not None else form)
    proposed = Suspended(pause_key=key)
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = keyset

    if state is None:
        state = (await api.call(client.read_flow_run, flow_run_id, what="read run")).state
    if state is not None and state.is_running():
        result = await api.call(client.set_flow_run_state, flow_run_id, proposed, force=False,
                                what="suspend run")
        if result.status != SetStateStatus.ACCEPT:
            # the key already fired on this run: it was resumed past this wait
            return False
    elif not (state is not None and state.is_paused() and state.state_details.pause_key == key):
        return False
    await _save_form(client, flow_run_id, keyset, form)
    return True


async def _save_form(client: PrefectClient, flow_run_id: UUID, keyset: dict, form: type[RunInput]) -> None:
    """As RunInput.asave: the schema the UI builds the Resume form from, and its description."""
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    values = {"schema": create_v2_schema(form.__name__, model_base=form)}
    if isinstance(form._description, str):
        values["description"] = form._description
    for part, value in values.items():
        try:
            await api.call(client.create_flow_run_input, flow_run_id, key=keyset[part],
                           value=orjson.dumps(value).decode(), what="save form")
        except Exception as exc:  # 409: saved by an earlier attempt, keep it
            if getattr(getattr(exc, "response", None), "status_code", None) != 409:
                raise


def wait_request(wait) -> dict:
    """What a run created already waiting needs from a `rectify.waits.Wait`: the key the flow
    computes for a fresh run (no refusal yet: attempt 0), the wait itself and its tag."""
    return {"key": f"{wait.key_base}-0", "wait": wait, "tag": wait.tag}


async def create_waiting_runs(client: PrefectClient, deployment_id: UUID, requests: list[dict],
                              build_form) -> dict[str, str]:
    """Create one run per request, each left waiting at its request's wait; code -> run id.

    A request: code, key (idempotency), name, tags, parameters, and `wait` = wait_request(…)
    (its `key` is always attempt 0: the key the run computes on its first execution);
    `build_form(wait)` (flows.forms) gives the form class with its description. Creation runs
    at the bounded concurrency of tasks.prefect_api; the idempotency key makes a repeated call
    (a retry, an intake started again) return the run created the first time.
    """
    gate = asyncio.Semaphore(api.create_concurrency())

    async def one(req: dict) -> tuple[str, str]:
        wait = req["wait"]
        async with gate:
            run = await api.call(
                client.create_flow_run_from_deployment, deployment_id,
                parameters=req["parameters"], name=req["name"],
                tags=[*req["tags"], wait["tag"]], idempotency_key=req["key"], state=Running(),
                what="create run")
            await suspend_waiting(client, run.id, wait["key"], build_form(wait["wait"]), None,
                                  state=run.state)
        return req["code"], str(run.id)

    return dict(await asyncio.gather(*(one(r) for r in requests)))
