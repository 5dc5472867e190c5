"""`intake`: import a register (all or nothing) and start one `rectification-item` run per item.

The runs are created from the item flow's deployment in one task, with the item code (and the
day it entered the ledger) as the idempotency key: importing the same register twice (or
retrying after a crash between the import and the run creation) never makes a second run for an
item. Each run carries the category, department and leader as tags, so the secretary can filter
runs in the UI.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.client.orchestration import get_client
from prefect.utilities.asyncutils import run_coro_as_sync
from sqlalchemy import select

from models import Item, Status
from rectify import item_process as steps
from rectify.errors import ImportRejected
from rectify.importer import import_register
from rectify.report.render import md_escape
from rectify.settings import get_settings, office_today
from rectify.workdays import get_calendar
from tasks.naming import intake_run_name

ITEM_DEPLOYMENT = steps.ITEM_DEPLOYMENT
PARALLEL_CREATES = 8  # API calls in flight at once; the server handles them in parallel


run_key = steps.run_key  # kept here: the key is part of what this flow promises


@task(name="导入整改清单", task_run_name="导入整改清单", cache_policy=NO_CACHE)
def import_register_task(paths: list[str], actor: str | None, day: date) -> dict:
    """The import, or (a refused register: nothing written) its bad cells as data, so the run
    can list them and fail with one line instead of a traceback."""
    try:
        return _import(paths, actor, day)
    except ImportRejected as exc:
        return {"rejected": str(exc), "problems": [
            {"row": p.row, "column": p.column, "value": p.value, "reason": p.message,
             "source": p.source} for p in exc.problems]}


def _import(paths: list[str], actor: str | None, day: date) -> dict:
    settings = get_settings()
    with steps.transaction(settings.database_url) as session:
        result = import_register(
            session, [Path(p) for p in paths], day=day,
            calendar=get_calendar(settings.calendar_override),
            immediate_days=settings.immediate_working_days, actor=actor,
        )
        codes = result.created + result.updated + result.unchanged
        # Every open item of this register that has no run yet: the new ones, and any whose run
        # creation a previous intake did not get to.
        rows = session.execute(
            select(Item).where(Item.code.in_(codes), Item.flow_run_id.is_(None),
                               Item.status != Status.closed)
        ).scalars().all()
        pending = [steps.run_request(i, run_key(i.code, i.register_date)) for i in rows]
    return {"result": result.as_dict(), "pending": pending}


@task(name="启动整改事项流程", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def start_item_runs(pending: list[dict], deployment: str, secretary: str | None) -> dict[str, str]:
    """Create every run in one task; the idempotency key makes a retry return the same runs."""
    return run_coro_as_sync(_create_runs(pending, deployment, secretary))


async def _create_runs(pending: list[dict], deployment: str, secretary: str | None) -> dict[str, str]:
    async with get_client() as client:
        dep = await client.read_deployment_by_name(deployment)
        gate = asyncio.Semaphore(PARALLEL_CREATES)

        async def create(p: dict) -> tuple[str, str]:
            async with gate:
                run = await client.create_flow_run_from_deployment(
                    dep.id, parameters={"code": p["code"], "title": p["title"], "secretary": secretary},
                    name=p["name"], tags=p["tags"], idempotency_key=p["key"],
                )
            return p["code"], str(run.id)

        return dict(await asyncio.gather(*(create(p) for p in pending)))


@task(name="登记流程运行", cache_policy=NO_CACHE)
def link_runs(runs: dict[str, str]) -> int:
    with steps.transaction(get_settings().database_url) as session:
        return sum(steps.link_run(session, code, run_id) for code, run_id in runs.items())


@flow(name="intake", flow_run_name=intake_run_name, description="导入整改清单，为每个新事项启动一个整改事项流程")
def intake(paths: list[str], actor: str | None = None, day: date | None = None,
           deployment: str = ITEM_DEPLOYMENT) -> dict:
    """Import `paths` as `actor` (the secretary) on `day` (default: today, Beijing time)."""
    logger = get_run_logger()
    day = day or office_today()
    imported = import_register_task(paths, actor, day)
    if "rejected" in imported:
        publish_rejection(imported)
        logger.error(imported["rejected"])
        return Failed(message=imported["rejected"])
    pending = imported["pending"]
    runs = start_item_runs(pending, deployment, actor) if pending else {}
    linked = link_runs(runs) if runs else 0
    r = imported["result"]
    summary = (f"导入完成：新增事项{len(r['created'])}项，更新{len(r['updated'])}项，"
               f"未变{len(r['unchanged'])}项；启动整改事项流程{linked}个")
    logger.info(summary)
    # The UI renders the artifact as Markdown: codes and titles come from the register.
    rows = "\n".join(f"| {md_escape(p['code'])} | {md_escape(p['title'])} | {runs.get(p['code'], '')} |"
                     for p in pending)
    create_markdown_artifact(
        key="intake", description="整改清单导入结果",
        markdown=f"# 整改清单导入\n\n{summary}\n\n| 编号 | 问题 | 流程运行 |\n|---|---|---|\n{rows}\n",
    )
    return {**r, "runs": runs, "linked": linked}


def publish_rejection(imported: dict) -> None:
    """Every bad cell of a refused register, as a table the secretary reads in the UI."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key="intake-rejected", description=imported["rejected"],
        table=[{"文件": md_escape(p["source"]), "行": p["row"] or "", "列": md_escape(p["column"] or ""),
                "内容": md_escape("" if p["value"] is None else p["value"]),
                "原因": md_escape(p["reason"])} for p in imported["problems"]])
