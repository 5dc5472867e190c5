"""The guarded server's one route of its own: the forms of many waiting runs in one call.

Why: a run the intake creates already waiting (tasks/waiting_runs.py) needs two stored inputs,
the form's schema and its description, and Prefect's API takes one input per request
(`POST /api/flow_runs/{id}/input`). On the embedded SQLite server each such request costs
about 8 ms of the server's single core, mostly the request itself (middleware, session,
commit), not the row: 16 s of a 1,000-item intake, a third of it. Prefect 3.9 has no bulk
route for inputs, so `rectify server` adds one, `POST /api/rectify/run_forms`, beside
Prefect's own routes on Prefect's API app: the same basic auth and middleware apply, and the
rows are Prefect's own (`schemas.core.FlowRunInput`, validated as Prefect's route validates
them, added as `models.flow_run_input.create_flow_run_input` adds them), so the runs are
exactly what `RunInput.save` would have left.

Rules, those of the one-input route behind the guard (flows/api_guard.py) and stricter:
only schema and description keys (`…-schema`, `…-description`) are accepted, never a response
key (those only Prefect's own resume writes: the call is refused, 403); an input whose key the
run already has is kept as it is (the one-input route answers 409 to it, which the client
ignores); an input for a run that does not exist is left out and reported (`missing`), and so
is one for a run that does not wait at that key now (`elsewhere`: the run is not PAUSED with
that key in its state's input keyset). So this route cannot put text on a form the run will
show later, which the one-input route still can (a run saves its own form there before it
suspends). One transaction, begun IMMEDIATE on SQLite:
it takes the write lock first, so a write committed meanwhile (the server's event persister)
makes it wait, never fail with "database is locked".

A plain `prefect server start` has no such route (404): the client then saves the inputs one
by one, as before.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from tasks.run_forms import LIMIT, PATH

FORM_SUFFIXES = ("-schema", "-description")
NOT_A_FORM = (
    "只能保存表单的格式与说明（键以 -schema 或 -description 结尾），不能写入表单答复（整改台账服务器防护）"
)
TOO_MANY = f"一次最多保存 {LIMIT} 份表单内容"


class RunFormInput(BaseModel):
    flow_run_id: UUID
    key: Annotated[str, Field(max_length=200)]
    value: str


class RunFormsSaved(BaseModel):
    created: int
    kept: int
    missing: list[UUID]
    elsewhere: list[UUID] = []


async def save_run_forms(inputs: list[RunFormInput]) -> RunFormsSaved:
    import sqlalchemy as sa
    from fastapi import HTTPException, status
    from prefect.server import schemas
    from prefect.server.database import provide_database_interface

    if len(inputs) > LIMIT:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=TOO_MANY)
    if any(not i.key.strip().endswith(FORM_SUFFIXES) for i in inputs):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=NOT_A_FORM)
    try:  # Prefect's own validation of a row (the key: letters, digits and dashes)
        rows = [
            schemas.core.FlowRunInput(flow_run_id=i.flow_run_id, key=i.key, value=i.value) for i in inputs
        ]
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=str(exc)) from None
    if not rows:
        return RunFormsSaved(created=0, kept=0, missing=[])

    db = provide_database_interface()
    run_ids = {r.flow_run_id for r in rows}
    async with db.session_context(begin_transaction=True, with_for_update=True) as session:
        waits = await _waits(session, db, run_ids)
        found = set(waits)
        have = set(
            (
                await session.execute(
                    sa.select(db.FlowRunInput.flow_run_id, db.FlowRunInput.key).where(
                        db.FlowRunInput.flow_run_id.in_(found),
                        db.FlowRunInput.key.in_({r.key for r in rows}),
                    )
                )
            ).all()
        )
        new, kept, elsewhere = [], 0, set()
        for row in rows:
            if row.flow_run_id not in found:
                continue
            if row.key not in waits[row.flow_run_id]:
                elsewhere.add(row.flow_run_id)
                continue
            if (row.flow_run_id, row.key) in have:
                kept += 1
                continue
            have.add((row.flow_run_id, row.key))  # a key twice in one call: the first wins
            new.append(db.FlowRunInput(**row.model_dump()))
        session.add_all(new)
        await session.flush()
    return RunFormsSaved(
        created=len(new), kept=kept, missing=sorted(run_ids - found), elsewhere=sorted(elsewhere)
    )


async def _waits(session, db, run_ids: set[UUID]) -> dict[UUID, set[str]]:
    """Each existing run: the form keys it may be given now (its PAUSED state's schema and
    description keys; none in any other state)."""
    import sqlalchemy as sa
    from prefect.server.schemas.states import StateType

    rows = await session.execute(
        sa.select(db.FlowRun.id, db.FlowRun.state_type, db.FlowRunState.state_details)
        .outerjoin(db.FlowRunState, db.FlowRunState.id == db.FlowRun.state_id)
        .where(db.FlowRun.id.in_(run_ids))
    )
    waits: dict[UUID, set[str]] = {}
    for run_id, state_type, details in rows:
        keyset = (getattr(details, "run_input_keyset", None) or {}) if state_type == StateType.PAUSED else {}
        waits[run_id] = {keyset[p] for p in ("schema", "description") if p in keyset}
    return waits


def add_route(api_app) -> None:
    """On Prefect's API app (mounted at /api), so that its auth and middleware apply (once:
    Prefect caches its API app within a process)."""
    if any(getattr(route, "path", None) == PATH for route in api_app.routes):
        return
    api_app.add_api_route(
        PATH,
        save_run_forms,
        methods=["POST"],
        response_model=RunFormsSaved,
        tags=["整改台账"],
        summary="一次保存多个等待中流程运行的表单（格式与说明）",
    )
