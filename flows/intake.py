"""`intake`: import a register (all or nothing) and give every item a `rectification-item` run.

One transaction does the ledger work for every item: the import, each assignment signed by the
intake's actor and its notice. That is the operator's in-process call; started from a
deployment (the UI, REST) the intake proves nobody, so it imports as the system and the new
items' assignments wait for one secretary's 交办确认 with her emailed code (flows.intake_confirm),
after which their runs are created. Then every item's run is created already waiting for its first
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
from rectify import intake_confirm as confirm
from rectify.errors import ImportRejected, RectifyError
from rectify.importer import import_register
from rectify.report.render import md_escape
from rectify.settings import get_settings, office_today
from rectify.workdays import get_calendar
from flows.intake_confirm import ACTOR_REFUSED, started_from_deployment, this_run_link, wait_for_confirmation
from flows.item import _deliver as deliver_notices
from flows.item import day_refusal
from flows.forms import build_form
from tasks import prefect_api as api
from tasks.naming import intake_run_name
from tasks.run_repair import repair_or_warn
from tasks.waiting_runs import create_waiting_runs, wait_request

ITEM_DEPLOYMENT = steps.ITEM_DEPLOYMENT


run_key = steps.run_key  # kept here: the key is part of what this flow promises


@task(name="导入整改清单并交办", task_run_name="导入整改清单并交办", cache_policy=NO_CACHE)
def import_register_task(
    paths: list[str], actor: str | None, day: date, unproven: bool = False, link: str | None = None
) -> dict:
    """Import, sign every new item's assignment as `actor` and queue the notices: one
    transaction, so a refused register leaves nothing and an accepted one leaves everything.
    `unproven` (started from the UI or REST): imported as the system, nothing signed; the new
    items' 交办 waits for 交办确认 (rectify.intake_confirm), whose emails are queued here.
    A refused register comes back as its bad cells (data), so the run can list them and fail
    with one line instead of a traceback."""
    try:
        return _import(paths, actor, day, unproven, link)
    except ImportRejected as exc:
        return {
            "rejected": str(exc),
            "problems": [
                {"row": p.row, "column": p.column, "value": p.value, "reason": p.message, "source": p.source}
                for p in exc.problems
            ],
        }
    except RectifyError as exc:  # e.g. an unproven import that would change people
        return {"rejected": str(exc), "problems": []}


def _import(paths: list[str], actor: str | None, day: date, unproven: bool, link: str | None) -> dict:
    settings = get_settings()
    with steps.transaction(settings.database_url) as session:
        result = import_register(
            session,
            [Path(p) for p in paths],
            day=day,
            calendar=get_calendar(settings.calendar_override),
            immediate_days=settings.immediate_working_days,
            actor=actor,
            unproven=unproven,
        )
        codes = result.created + result.updated + result.unchanged
        held = confirm.batch(session, codes) if unproven else []
        confirm.queue_requests(session, held, day, link)
        pending = pending_runs(session, codes, actor, day, skip={i.code for i in held})
    return {"result": result.as_dict(), "pending": pending, "codes": codes, "held": [i.code for i in held]}


def pending_runs(
    session, codes: list[str], actor: str | None, day: date, skip: frozenset[str] | set[str] = frozenset()
) -> list[dict]:
    """Every open item of this register that has no run yet (the new ones, and any whose run
    creation a previous intake did not get to), but those held for 交办确认 (`skip`)."""
    rows = (
        session.execute(
            select(Item)
            .where(Item.code.in_(codes), Item.flow_run_id.is_(None), Item.status != Status.closed)
            .order_by(Item.id)
        )
        .scalars()
        .all()
    )
    pending = []
    with acting.one_email_per_person(session):  # a person's 交办 notices: one email
        for item in rows:
            if item.code in skip:
                continue
            request = steps.run_request(item, run_key(item.code, item.register_date))
            request["wait"] = first_wait(session, item.code, actor, day)
            pending.append(request)
    return pending


def first_wait(session, code: str, secretary: str | None, day: date) -> dict:
    """Where the item's run would first suspend, doing on the way what it would do, in the
    intake's session: the assignment signed by `secretary` (the console's intake only), or for
    长期坚持 the owner told once (a refusal shown in the form), then
    `rectify.waits.current_wait` and, for a 交办 form, the secretaries' requests with codes."""
    item = workflow.get_item(session, code)
    refusal = None
    if item.owner is not None and (
        item.status is Status.ongoing or (item.status is Status.new and secretary)
    ):
        refusal = steps.assign_in_session(session, code, day, secretary)
    wait = waits.current_wait(session, code)
    request = wait_request(wait)
    if refusal and wait.key_base == "assign":
        # the reason on top of the form; the key stays `assign-0`, the one the run computes
        # (the item flow signs nothing itself any more, so it never counts this refusal)
        request = wait_request(waits.current_wait(session, code, refusal=refusal, entered={}))
    if wait.step == "assign":
        acting.queue_assign_requests(session, workflow.get_item(session, code), day)
    return request


@task(name="启动整改事项流程", task_run_name="启动整改事项流程", cache_policy=NO_CACHE)
def start_item_runs(pending: list[dict], deployment: str) -> dict[str, str]:
    """Create every run already waiting for its form; the idempotency key makes a repeat
    return the same runs. Transient API errors are retried inside tasks.prefect_api."""
    for p in pending:
        p["parameters"] = {"code": p["code"], "title": p["title"]}
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


@flow(
    name="intake", flow_run_name=intake_run_name, description="导入整改清单，为每个新事项启动一个整改事项流程"
)
def intake(
    paths: list[str], actor: str | None = None, day: date | None = None, deployment: str = ITEM_DEPLOYMENT
) -> dict:
    """Import `paths` on `day` (default: today, Beijing time).

    Called in-process by the operator (the console: `actor`, a secretary, signs every new
    item's 交办 directly). Started from a deployment (the UI, REST) nobody is proven: `actor`
    is refused, the import is the system's and the 交办 waits for 交办确认 (flows.intake_confirm).
    """
    logger = get_run_logger()
    unproven = started_from_deployment()
    if unproven and actor:
        logger.error(ACTOR_REFUSED)
        return Failed(message=ACTOR_REFUSED)
    if refused_day := day_refusal(day, or_created=True):
        logger.error(refused_day)
        return Failed(message=refused_day)
    day = day or office_today()
    imported = import_register_task(paths, actor, day, unproven, this_run_link() if unproven else None)
    if "rejected" in imported:
        if imported["problems"]:
            publish_rejection(imported)
        logger.error(imported["rejected"])
        return Failed(message=imported["rejected"])
    pending = imported["pending"]
    runs = start_item_runs(pending, deployment) if pending else {}
    linked = link_runs(runs) if runs else 0
    if imported["held"]:
        deliver_notices()  # the 交办确认 requests (and other notices) before the run waits
        # signed when she signs: from the UI, that is today, whatever day the import was
        signed_on = office_today() if unproven else day
        confirmed = wait_for_confirmation(imported["codes"], signed_on)
        after = confirmed_runs(imported["codes"], signed_on)
        more = start_item_runs(after, deployment) if after else {}
        linked += link_runs(more) if more else 0
        runs, pending = {**runs, **more}, pending + after
        deliver_notices()
        logger.info("交办确认：%s签署%d项", confirmed.get("secretary", ""), len(confirmed.get("signed", [])))
    repaired = repair_or_warn(day)  # items of earlier registers whose run ended or vanished
    if (pending and not imported["held"]) or repaired:  # 交办 notices; a repaired run's link and code
        deliver_notices()
    r = imported["result"]
    summary = (
        f"导入完成：新增事项{len(r['created'])}项，更新{len(r['updated'])}项，"
        f"未变{len(r['unchanged'])}项；启动整改事项流程{linked}个"
    )
    logger.info(summary)
    # The UI renders the artifact as Markdown: codes and titles come from the register.
    rows = "\n".join(
        f"| {md_escape(p['code'])} | {md_escape(p['title'])} | {runs.get(p['code'], '')} |" for p in pending
    )
    create_markdown_artifact(
        key="intake",
        description="整改清单导入结果",
        markdown=f"# 整改清单导入\n\n{summary}\n\n| 编号 | 问题 | 流程运行 |\n|---|---|---|\n{rows}\n",
    )
    return {**r, "runs": runs, "linked": linked, "repaired": repaired}


@task(name="交办确认后启动流程", cache_policy=NO_CACHE)
def confirmed_runs(codes: list[str], day: date) -> list[dict]:
    """After 交办确认: every item of the register still without a run (signed: waiting for its
    销号申请; unticked or refused: waiting for its 交办 form, with the per-item requests)."""
    with steps.transaction(get_settings().database_url) as session:
        return pending_runs(session, codes, None, day)


def publish_rejection(imported: dict) -> None:
    """Every bad cell of a refused register, as a table the secretary reads in the UI."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key="intake-rejected",
        description=imported["rejected"],
        table=[
            {
                "文件": md_escape(p["source"]),
                "行": p["row"] or "",
                "列": md_escape(p["column"] or ""),
                "内容": md_escape("" if p["value"] is None else p["value"]),
                "原因": md_escape(p["reason"]),
            }
            for p in imported["problems"]
        ],
    )
