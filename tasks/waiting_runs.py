"""Item runs that exist already waiting for their form, without a process ever executing them.

Executing a run only so that it can suspend itself costs a Python process per item (seconds of
CPU to import Prefect): a 1,000-item register took minutes and swamped the server. Instead the
intake (and the repair, and `rectify reopen`) creates each run in exactly the state the flow's
own `suspend_flow_run(wait_for_input=form, key=key)` leaves (checked against Prefect 3.9.1:
prefect/flow_runs.py, server/orchestration/core_policy.py, server/models/flow_runs.py):

1. The runs are created 100 to a call (`POST /deployments/{id}/create_flow_run/bulk`, the
   server's `BULK_CREATE_LIMIT`), each directly in the `Suspended(pause_key=key)` state with
   the run-input keyset derived from that key, and with `empirical_policy.pause_keys = {key}`.
   The server sets a new run's first state with force (MinimalFlowPolicy and the global
   transforms: `state_details.flow_run_id`, timestamps, the state-change event), so the one
   thing orchestration's `HandlePausingFlows` would have added, the key in `pause_keys`, is
   given here; its other effect, deleting inputs stored under the keyset by an earlier attempt,
   has nothing to delete on a new run. The runs' parameters are checked against the
   deployment's parameter schema here, once per intake for the schema (`checked_here`),
   instead of by the server per run (a third of its CPU for a bulk creation). With the key
   recorded, the resumed run's own suspend at that key is rejected as "already fired" and
   Prefect hands back the stored input instead of waiting again (tests/test_waiting_runs.py compares this field by field with a run that
   suspended itself). What differs is what the run never did: it was never RUNNING, so it has
   no start time and its run count is 0 until a worker executes it.
2. The form's JSON schema and description are saved under that keyset, as `RunInput.save`
   does (tasks/run_forms.py): on the guarded server the forms of a whole batch in one call,
   batch after batch (see create_waiting_runs for the order).

Was 4 calls per run (create RUNNING, propose Suspended, save schema, save description); now 3
calls per 100 runs (create, read back, save the forms).

A person's Resume (the UI form, `POST /api/flow_runs/{id}/resume`, `rectify submit`) is then
validated by the server against the schema and stored under the keyset; the run is rescheduled,
a worker executes it from the top, the flow reaches the same key (the same
`rectify.waits.current_wait` of the same ledger, attempt 0: `<key_base>-0`) and Prefect hands
back the stored input. The run is created with the wait's worklist tag (待交办 · 待提交 …), as
the flow's own `set_wait_tag` would have set it.

Each step is safe to repeat: the idempotency key makes a repeated creation return the run made
the first time (in whatever state it is now); the runs are read back after creation, a run
found suspended at the key only gets its form saved again (an existing input is left as it
is), a run found RUNNING (left by an older intake) is suspended through orchestration, and a
run anywhere else (resumed, executing, finished) is left alone. An intake killed anywhere and
started again finishes the job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentFlowRunCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRunPolicy, State
from prefect.client.schemas.responses import SetStateStatus
from prefect.input.run_input import keyset_from_paused_state
from prefect.states import Suspended, to_state_create

from tasks import prefect_api as api
from tasks.run_forms import FormValues, save_forms

BULK = 100  # prefect/server/api/deployments.py BULK_CREATE_LIMIT (3.9.1)


def suspended_at(key: str) -> State:
    """The state `suspend_flow_run(key=key, wait_for_input=…)` proposes: Suspended (rescheduled
    on resume), the key, and the keyset its form and answer are stored under."""
    state = Suspended(pause_key=key)
    state.state_details.run_input_keyset = keyset_from_paused_state(state)
    return state


async def at_key(client: PrefectClient, flow_run_id: UUID, key: str, state=None) -> dict | None:
    """The keyset of `key` when the run waits there (whether the intake or an earlier attempt put
    it there), None when it is somewhere else: executing, waiting at another key, resumed or
    finished, which only a person or a worker could have caused, and which is left alone. A
    run found RUNNING (left by an older intake) is suspended at `key` through orchestration."""
    proposed = suspended_at(key)
    keyset = proposed.state_details.run_input_keyset
    assert keyset is not None

    if state is None:
        state = (await api.call(client.read_flow_run, flow_run_id, what="read run")).state
    if state is not None and state.is_running():
        # proposed, not forced: HandlePausingFlows records the key as it does for the flow
        result = await api.call(
            client.set_flow_run_state, flow_run_id, proposed, force=False, what="suspend run"
        )
        if result.status != SetStateStatus.ACCEPT:
            # the key already fired on this run: it was resumed past this wait
            return None
    elif not (state is not None and state.is_paused() and state.state_details.pause_key == key):
        return None
    return dict(keyset)


def wait_request(wait) -> dict:
    """What a run created already waiting needs from a `rectify.waits.Wait`: the key the flow
    computes for a fresh run (no refusal yet: attempt 0), the wait itself and its tag."""
    return {"key": f"{wait.key_base}-0", "wait": wait, "tag": wait.tag}


class NotCreated(RuntimeError):
    """The server refused to create a run (its reason, e.g. a parameter it rejects)."""


def checked_here(deployment) -> Callable[[dict], bool]:
    """Whether a run's parameters pass the deployment's parameter schema, checked here, once
    per intake for the schema: the server checks them per run with jsonschema's `validate`,
    which first checks the schema itself against the metaschema (about 15 ms of the server's
    single core per run: a third of a bulk creation). A run that passes is sent with
    `enforce_parameter_schema=False` (the same check, already done); one that does not is sent
    as before, for the server to refuse with its own reason."""
    from prefect.utilities.schema_tools.validation import validate

    schema = deployment.parameter_openapi_schema
    if not deployment.enforce_parameter_schema or not isinstance(schema, dict):
        return lambda parameters: False  # the server decides, as it always did
    return lambda parameters: not validate(parameters, schema)


def _run_create(req: dict, checked: Callable[[dict], bool]) -> dict:
    wait = req["wait"]
    state = to_state_create(suspended_at(wait["key"]))
    run = DeploymentFlowRunCreate(
        name=req["name"],
        parameters=req["parameters"],
        tags=[*req["tags"], wait["tag"]],
        idempotency_key=req["key"],
        empirical_policy=FlowRunPolicy(pause_keys={wait["key"]}),
    )
    if checked(req["parameters"]):
        run.enforce_parameter_schema = False  # set: sent (unset fields are not)
    body = run.model_dump(mode="json", exclude_unset=True)
    # the state in full, as the client's set_flow_run_state sends it (server defaults differ)
    return {**body, "state": state.model_dump(mode="json", serialize_as_any=True)}


async def _create_batch(
    client: PrefectClient, deployment_id: UUID, batch: list[dict], checked: Callable[[dict], bool]
) -> list:
    """One bulk call for up to BULK runs, then one read of what they are now (a repeat of an
    idempotency key returns the run made the first time, in whatever state it reached).

    The server reports each run on its own: a run it could not create (SQLite busy under a
    concurrent write) comes back FAILED, or CREATED but absent when its transaction was rolled
    back. Those are sent again, with the backoff of tasks.prefect_api, until the patience runs
    out; only then is the server's reason raised."""
    deadline, attempt, made = time.monotonic() + api.patience(), 0, []
    while True:
        response = await api.call(
            client.request,
            "POST",
            "/deployments/{id}/create_flow_run/bulk",
            path_params={"id": deployment_id},
            json=[_run_create(r, checked) for r in batch],
            what="create runs",
        )
        results = response.json()["results"]
        ids = [UUID(x["flow_run_id"]) if x.get("flow_run_id") else None for x in results]
        found = [i for i in ids if i is not None]
        runs = (
            await api.call(
                client.read_flow_runs,
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=found)),
                limit=len(found),
                what="read runs",
            )
            if found
            else []
        )
        by_id = {r.id: r for r in runs}
        again = []
        for req, run_id, result in zip(batch, ids, results):
            if run_id in by_id:
                made.append((req, by_id[run_id], run_id))
            else:
                again.append((req, result.get("error") or "创建后未找到"))
        if not again:
            return made
        if time.monotonic() >= deadline:
            req, error = again[0]
            raise NotCreated(
                f"{len(again)}个流程运行未能创建（{req['code']}：{api.first_line(Exception(error))}）"
            )
        batch = [req for req, _ in again]
        await asyncio.sleep(api.backoff(attempt))
        attempt += 1


async def create_waiting_runs(
    client: PrefectClient, deployment_id: UUID, requests: list[dict], build_form
) -> dict[str, str]:
    """Create one run per request, each left waiting at its request's wait; code -> run id.

    A request: code, key (idempotency), name, tags, parameters, and `wait` = wait_request(…)
    (its `key` is always attempt 0: the key the run computes on its first execution);
    `build_form(wait)` (flows.forms) gives the form class with its description. The idempotency
    key makes a repeated call (a retry, an intake started again) return the run created the
    first time.

    BULK runs to a call, then that batch's forms (tasks/run_forms: one call on the guarded
    server), then the next batch: each run is whole (waiting with its form) a second or two
    after its batch. A batch the server reports as not created is sent again (_create_batch):
    on a plain Prefect server on SQLite that happens whenever another write commits while the
    batch reads (its event persister storing the previous batch's events did it to 3 to 7 of
    the 10 batches of a 1,000-item intake); the guarded server's batch waits for the write
    lock instead (flows/sqlite_writes.py, docs/runs-at-scale.md).
    """
    runs: dict[str, str] = {}
    checked = checked_here(await api.call(client.read_deployment, deployment_id, what="read deployment"))
    values_of = FormValues(build_form)
    gate = asyncio.Semaphore(api.create_concurrency())

    async def settle(req: dict, run, run_id: UUID) -> tuple | None:
        async with gate:
            keyset = await at_key(client, run_id, req["wait"]["key"], run.state)
        return None if keyset is None else (run_id, keyset, values_of(req["wait"]["wait"]))

    for i in range(0, len(requests), BULK):
        made = await _create_batch(client, deployment_id, requests[i : i + BULK], checked)
        waiting = await asyncio.gather(*(settle(*m) for m in made))
        await save_forms(client, [w for w in waiting if w is not None])
        runs.update({req["code"]: str(run_id) for req, _, run_id in made})
    return runs
