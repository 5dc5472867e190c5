"""`intake`: import a register (all or nothing) and give every item a `rectification-item` run.

One transaction does the ledger work for every item: the import, each assignment signed by the
intake's actor and its notice. Then every item's run is created already waiting for its first
form (tasks/waiting_runs.py), at the wait `rectify.waits.current_wait` names (the form from
flows.forms.build_form, the worklist tag with it), so no process runs
per item: a run executes only when a person acts on it. The item code (and the day it entered
the ledger) is the idempotency key: importing the same register twice, or starting again an
intake killed between the ledger commit and the run creation or in the middle of it, never
makes a second run for an item. Each run carries the category, department and leader as tags,
so the secretary can filter runs in the UI.
"""

from __future__ import annotations

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
from rectify import acting, waits, workflow
from rectify import item_process as steps
from rectify.errors import ImportRejected
from rectify.importer import import_register
from rectify.report.render import md_escape
from rectify.settings import get_settings, office_today
from rectify.workdays import get_calendar
from flows.item import _deliver as deliver_notices
from flows.forms import build_form
from tasks import prefect_api as api
from tasks.naming import intake_run_name
from tasks.run_repair import repair_or_warn
from tasks.waiting_runs import create_waiting_runs, wait_request

ITEM_DEPLOYMENT = steps.ITEM_DEPLOYMENT


run_key = steps.run_key  # kept here: the key is part of what this flow promises


@task(name="导入整改清单并交办", task_run_name="导入整改清单并交办", cache_policy=NO_CACHE)
def import_register_task(paths: list[str], actor: str | None, day: date) -> dict:
    """Import, sign every new item's assignment as `actor` and queue the notices: one
    transaction, so a refused register leaves nothing and an accepted one leaves everything.
    A refused register comes back as its bad cells (data), so the run can list them and fail
    with one line instead of a traceback."""
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
                               Item.status != Status.closed).order_by(Item.id)
        ).scalars().all()
        pending = []
        for item in rows:
            request = steps.run_request(item, run_key(item.code, item.register_date))
            request["wait"] = first_wait(session, item.code, actor, day)
            pending.append(request)
    return {"result": result.as_dict(), "pending": pending}


def first_wait(session, code: str, secretary: str | None, day: date) -> dict:
    """Where the item's run would first suspend, doing on the way what it would do, in the
    intake's session: the flow's first turn (flows/item.py: the assignment signed by
    `secretary`, or for 长期坚持 the owner told once; a refusal counted as the flow counts it),
    then `rectify.waits.current_wait` and, for a 交办 form, the secretaries' requests with codes."""
    item = workflow.get_item(session, code)
    refusal = None
    if item.owner is not None and (item.status is Status.ongoing
                                   or (item.status is Status.new and secretary)):
        refusal = steps.assign_in_session(session, code, day, secretary)
    wait = waits.current_wait(session, code)
    request = wait_request(wait)
    if refusal and wait.key_base == "assign":  # the flow's refusals[base], attempts[base] = 1
        wait = waits.current_wait(session, code, refusal=refusal, entered={})
        request = {**wait_request(wait), "key": f"{wait.key_base}-1"}
    if wait.step == "assign":
        acting.queue_assign_requests(session, workflow.get_item(session, code), day)
    return request


@task(name="启动整改事项流程", task_run_name="启动整改事项流程", cache_policy=NO_CACHE)
def start_item_runs(pending: list[dict], deployment: str, secretary: str | None) -> dict[str, str]:
    """Create every run already waiting for its form; the idempotency key makes a repeat
    return the same runs. Transient API errors are retried inside tasks.prefect_api."""
    for p in pending:
        p["parameters"] = {"code": p["code"], "title": p["title"], "secretary": secretary}
    return run_coro_as_sync(_create_runs(pending, deployment))


async def _create_runs(pending: list[dict], deployment: str) -> dict[str, str]:
    with api.own_retries():
        async with get_client() as client:
            dep = await api.call(client.read_deployment_by_name, deployment, what="read deployment")
            return await create_waiting_runs(client, dep.id, pending, build_form)


@task(name="登记流程运行", task_run_name="登记流程运行", cache_policy=NO_CACHE)
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
    repaired = repair_or_warn(day)  # items of earlier registers whose run ended or vanished
    if pending:
        deliver_notices()
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
    return {**r, "runs": runs, "linked": linked, "repaired": repaired}


def publish_rejection(imported: dict) -> None:
    """Every bad cell of a refused register, as a table the secretary reads in the UI."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key="intake-rejected", description=imported["rejected"],
        table=[{"文件": md_escape(p["source"]), "行": p["row"] or "", "列": md_escape(p["column"] or ""),
                "内容": md_escape("" if p["value"] is None else p["value"]),
                "原因": md_escape(p["reason"])} for p in imported["problems"]])
