"""Keep the command line and an item's waiting flow run in step.

`rectify submit` / `rectify review` apply the transition to the ledger themselves (one
transaction, same role rules), and only after it committed reschedule the item's waiting run,
without form input: the form needs a person's emailed code, which the administrator's console
neither has nor needs. The rescheduled run starts from the top, reads the ledger, finds the step
already done and goes on to the next wait, so the transition happens exactly once whichever
side it came from.

Prefect is imported only here and only when the item has a run: read commands and items without
a run never pay for it. A run that is not waiting (running, scheduled, finished, or Prefect not
reachable) is left alone: the ledger already holds the change and the run sees it when it next
looks.

`rectify reopen` is the one command that makes a run: the item's run ended at 已销号, so after
回头看 nothing would wait for the new closure submission without a new run. It is created already
waiting at the wait `rectify.waits.current_wait` names, with its form, by the same
`tasks.waiting_runs.create_waiting_runs` the intake and the repair use: no process executes it
until someone submits the form.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from models import Item
from models.db import session_factory


def run_id_of(db_url: str, code: str) -> str | None:
    with session_factory(db_url)() as session:
        return session.scalar(select(Item.flow_run_id).where(Item.code == code))


def waiting_key(flow_run_id: str) -> str | None:
    """The pause key of the run's current wait, or None when the run is not waiting for input.
    Raises prefect's ObjectNotFound when the server no longer knows the run (deleted)."""
    from prefect.client.orchestration import get_client

    from tasks.prefect_api import call_sync, own_retries

    with own_retries(), get_client(sync_client=True) as client:
        run = call_sync(client.read_flow_run, UUID(flow_run_id), what="read run")
    state = run.state
    if state is None or not state.is_paused():
        return None
    return state.state_details.pause_key or ""


def reschedule_run(flow_run_id: str) -> None:
    """Wake a suspended run without input: it re-reads the ledger from the top."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from tasks.prefect_api import call_sync, own_retries

    with own_retries(), get_client(sync_client=True) as client:
        # force: the resume endpoint would demand the form's fields, code included
        call_sync(
            client.set_flow_run_state,
            UUID(flow_run_id),
            Scheduled(name="Resuming"),
            force=True,
            what="resume run",
        )


def resume_if_waiting(db_url: str, code: str) -> str | None:
    """After a command changed the item: wake its run if it waits, whatever it waited for
    (the ledger moved on). Returns a line for the terminal, or None when the item has no run."""
    flow_run_id = run_id_of(db_url, code)
    if not flow_run_id:
        return None
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # Without a server address Prefect would start a throw-away ephemeral API that cannot
        # know the run; say what to set instead of pretending.
        return f"提示：台账已更新；未设置 PREFECT_API_URL，未能通知流程运行 {flow_run_id}"
    from prefect.exceptions import ObjectNotFound

    from tasks.prefect_api import first_line

    try:
        key = waiting_key(flow_run_id)
    except ObjectNotFound:
        return (
            f"提示：台账已更新；事项 {code} 的流程运行 {flow_run_id} 已不存在，"
            "下次到期巡查（deadline-watch）或导入时将自动补建"
        )
    except Exception as exc:
        return f"提示：台账已更新，但未能通知流程运行 {flow_run_id}：{first_line(exc)}"
    try:
        if key is None:
            return f"{code}：流程运行当前未在等待输入，将在下次运行时读取台账"
        reschedule_run(flow_run_id)
    except Exception as exc:  # the ledger change stands; say plainly why the run was not told
        return f"提示：台账已更新，但未能通知流程运行 {flow_run_id}：{first_line(exc)}"
    return f"{code}：已恢复流程运行 {flow_run_id}"


def _is_finished(client, flow_run_id: str) -> bool:
    """A run that ended (or that the server no longer knows) will never read the ledger again."""
    from prefect.exceptions import ObjectNotFound

    from tasks.prefect_api import call_sync

    try:
        run = call_sync(client.read_flow_run, UUID(flow_run_id))
    except ObjectNotFound:
        return True
    return run.state is not None and run.state.is_final()


def start_reopened_run(db_url: str, code: str) -> str | None:
    """After a reopen committed: a new item run in place of the finished one.

    Returns a line for the person at the terminal, or None when the item never had a run (it
    was imported from the command line, not through the intake flow).
    """
    from rectify.item_process import link_run, reopen_run_request

    with session_factory(db_url)() as session:
        request, previous = reopen_run_request(session, code)
    if previous is None:
        return None
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return f"提示：台账已更新；未设置 PREFECT_API_URL，未能为 {code} 启动新的流程运行"
    from prefect.client.orchestration import get_client

    from tasks.prefect_api import first_line, own_retries

    try:
        with own_retries(), get_client(sync_client=True) as client:
            if not _is_finished(client, previous):
                return f"{code}：流程运行 {previous} 尚未结束，将在下次运行时读取台账"
        run_id = _create_waiting_run(db_url, code, request)
    except Exception as exc:  # the reopen stands; say plainly why no run was started
        return f"提示：台账已更新，但未能启动新的流程运行：{first_line(exc)}"
    with session_factory(db_url)() as session, session.begin():
        link_run(session, code, run_id, replacing=previous)
    return f"{code}：已启动新的流程运行 {run_id}"


def _create_waiting_run(db_url: str, code: str, request: dict) -> str:
    """The reopened item's run, created waiting for its next form (as the intake creates runs)."""
    from prefect.client.orchestration import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    from flows.forms import build_form
    from rectify.item_process import ITEM_DEPLOYMENT
    from rectify.waits import current_wait
    from tasks.prefect_api import call, own_retries
    from tasks.waiting_runs import create_waiting_runs, wait_request

    with session_factory(db_url)() as session:
        request["wait"] = wait_request(current_wait(session, code))
    request["parameters"] = {"code": code, "title": request["title"]}

    async def create() -> dict[str, str]:
        with own_retries():
            async with get_client() as client:
                deployment = await call(client.read_deployment_by_name, ITEM_DEPLOYMENT)
                return await create_waiting_runs(client, deployment.id, [request], build_form)

    runs: dict[str, str] = run_coro_as_sync(create())
    return runs[code]
