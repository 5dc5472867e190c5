"""Repair: every open item has a run waiting for its next form, whatever happened to the old one.

A run can end while its item is still open: the secretary pressed Cancel beside Resume in the
UI, the worker crashed, a step failed past its retries, someone deleted it, or a reopen could
not start its new run. Nobody would then be asked for the item's next form. The deadline-watch
and the intake call `repair_item_runs`: it reads the state of every open item's run in a few
filtered API calls, creates a new run already waiting at the wait `rectify.waits.current_wait`
names, with its form from flows.forms.build_form and its worklist tag (as the intake does), and links it in the ledger with an audit record, in one transaction per sweep.
A closed item is never given a run. The idempotency key names the run it replaces, so two
sweeps at once, or a sweep started again, create one new run.
"""

from __future__ import annotations

import logging
from datetime import date
from uuid import UUID

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.utilities.asyncutils import run_coro_as_sync
from sqlalchemy import select

from models import Item, Status
from rectify import item_process as steps
from rectify.settings import get_settings
from tasks import prefect_api as api
from tasks.waiting_runs import create_waiting_runs, wait_request

ENDED = {"CANCELLED": "已取消", "CRASHED": "已崩溃", "FAILED": "已失败", "COMPLETED": "已结束"}
CHUNK = 200


async def broken_runs(linked: dict[str, str]) -> dict[str, tuple[str, str]]:
    """code -> (run id, why) for the runs that ended or that the server no longer knows."""
    by_run = {run: code for code, run in linked.items()}
    found: dict[str, str] = {}
    with api.own_retries():
        async with get_client() as client:
            ids = list(by_run)
            for i in range(0, len(ids), CHUNK):
                chunk = [UUID(x) for x in ids[i : i + CHUNK]]
                runs = await api.call(
                    client.read_flow_runs,
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)),
                    limit=CHUNK,
                    what="read runs",
                )
                found.update({str(r.id): r.state.type.value if r.state else "" for r in runs})
    broken = {}
    for run, code in by_run.items():
        if run not in found:
            broken[code] = (run, "已删除")
        elif found[run] in ENDED:
            broken[code] = (run, ENDED[found[run]])
    return broken


def _logger():
    """The run's logger (shown in the UI), or the module's when called outside a run."""
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("rectify.repair")


@task(name="补建流程运行", task_run_name="补建流程运行", cache_policy=NO_CACHE)
def repair_item_runs(day: date, deployment: str = steps.ITEM_DEPLOYMENT) -> dict[str, str]:
    """New waiting runs for open items whose run ended or vanished; code -> new run id."""
    from flows.forms import build_form  # the flow side builds forms; tasks do not import flows
    from rectify import waits

    db_url = get_settings().database_url
    with steps.transaction(db_url) as session:
        linked = dict(
            session.execute(
                select(Item.code, Item.flow_run_id).where(
                    Item.status != Status.closed, Item.flow_run_id.is_not(None)
                )
            ).all()
        )
    broken = run_coro_as_sync(broken_runs(linked)) if linked else {}
    if not broken:
        return {}
    requests = []
    with steps.transaction(db_url) as session:
        for code, (old, _) in broken.items():
            wait = waits.current_wait(session, code)
            if wait is None:
                continue
            item = session.scalars(select(Item).where(Item.code == code)).one()
            request = steps.run_request(item, f"{steps.run_key(code, item.register_date)}#repair-{old}")
            request["wait"] = wait_request(wait)
            request["parameters"] = {"code": code, "title": request["title"]}
            requests.append(request)

    async def create() -> dict[str, str]:
        with api.own_retries():
            async with get_client() as client:
                dep = await api.call(client.read_deployment_by_name, deployment)
                return await create_waiting_runs(client, dep.id, requests, build_form)

    runs = run_coro_as_sync(create()) if requests else {}
    repaired = {}
    with steps.transaction(db_url) as session:
        for code, new in runs.items():
            old, why = broken[code]
            if steps.relink_run(session, code, old, new, day, why):
                repaired[code] = new
    if repaired:
        _logger().warning("补建流程运行%d个：%s", len(repaired), "、".join(sorted(repaired)))
    return repaired


def repair_or_warn(day: date) -> dict[str, str]:
    """The repair as a step of a larger flow: its failure (Prefect unreachable, no item
    deployment) is a warning in that flow's log, never a failed sweep or intake."""
    state = repair_item_runs(day, return_state=True)
    if state.is_completed():
        return state.result()
    _logger().warning("未能补建流程运行（下次运行时重试）：%s", state.message or state.name)
    return {}
