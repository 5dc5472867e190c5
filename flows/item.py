"""`rectification-item`: one flow run per item, from assignment to closure (销号).

The run never holds a process while it waits: it suspends with a form (a RunInput) and exits;
a resume (Prefect UI's Resume form, or `rectify submit` / `rectify review`) reschedules it, and
it starts again from the top. That is why every step first reads the item from the ledger, the
single source of truth, and why each wait has a key derived from the ledger (`submit-<round>-
<attempt>`, `extend-<extension id>-…`, `signoff-…`, `review-…`; rectify.waits): on the re-run Prefect hands back, without
waiting, the input a key already received, and waits only at the first key that has none.

Every form acts in a person's name and carries that person's emailed 验证码 (rectify.codes);
every change goes through rectify.workflow (via rectify.item_process), with the same role rules
as the command line. Input the rules refuse changes nothing; the run waits again with the reason
at the top of the next form and the person's entries as its defaults. Task runs are named in
Chinese without Prefect's random suffix, so the timeline reads 交办, 销号申请, 领导审核 ….
The run's worklist tag (待交办 · 待提交 · 待审批延期 · 待领导审核 · 待审核) says what it waits for;
a run the intake or the repair created already waiting (tasks/waiting_runs.py) carries the tag
and the form of the same `current_wait` from its creation, under the key `<base>-0`.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from prefect.states import Failed, State

from flows.forms import build_form
from models import Status
from rectify import item_process as steps
from rectify import waits
from rectify.settings import get_settings, office_today


def _db_url() -> str:
    return get_settings().database_url


def _business_day(day: date | None) -> date:
    """The day recorded in the audit trail: fixed by the caller (back-filling, tests) or today."""
    return day or office_today()


DAY_REFUSED = (
    "从界面或接口启动的运行不能指定日期 day（{day}）：只能不填或填今天（{today}，北京时间），台账未作任何修改"
)


def day_refusal(day: date | None, *, or_created: bool = False) -> str | None:
    """Started from a deployment (the UI's Run, REST: anyone with the UI password), `day` may
    only be the office's today: any other would back-date (or post-date) the audit records and
    emails of what people do through the run. `or_created`: also the office's date the server
    recorded the run's creation (an intake waiting for 交办确认 across midnight keeps its day).
    The console (in-process: no deployment) keeps `day` (tests, `--today`); RECTIFY_TODAY
    (the worker's own setting, the operator's) moves today itself."""
    from prefect.runtime import deployment as current_deployment

    if day is None or current_deployment.id is None:
        return None
    today = office_today()
    if day == today or (or_created and day == _created_day()):
        return None
    return DAY_REFUSED.format(day=day, today=today)


def _created_day() -> date:
    from zoneinfo import ZoneInfo

    from prefect.client.orchestration import get_client

    settings = get_settings()
    if settings.today is not None:
        return settings.today
    with get_client(sync_client=True) as client:
        created = client.read_flow_run(current_run.id).created
    return created.astimezone(ZoneInfo(settings.timezone)).date()


def _run_name() -> str:
    params = current_run.parameters
    return f"{params['code']} {params.get('title') or ''}".strip()


# Tasks never cache: after a resume the run starts again from the top and must see the ledger
# as it is now, not as a cached result of the previous attempt.
@task(name="交办", task_run_name="交办", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def assign_item(
    code: str, day: date, secretary: str | None, owner: str | None = None, leader: str | None = None
) -> str | None:
    return steps.assign_from_register(_db_url(), code, day, secretary, owner, leader)


@task(name="待交办通知", task_run_name="待交办通知", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def request_assignment(code: str, day: date) -> None:
    steps.request_assignment(_db_url(), code, day)


@task(name="办理表单", task_run_name="{label}", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def apply_form(code: str, day: date, step: str, form: dict, label: str, attempt: str) -> str | None:
    return steps.apply_form(_db_url(), code, day, step, form, attempt, str(current_run.id))


@task(name="销号通知", task_run_name="销号通知", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def confirm_closed(code: str, day: date) -> None:
    steps.confirm_closed(_db_url(), code, day)


def _deliver(code: str | None = None) -> None:
    """Send what the step queued, after its transaction committed (the outbox's own task).

    Event notices only: the sweep's digests belong to the sweep's day, and an item run on a
    Saturday must not flush Friday's retries as a second, stale email. With `code`, only the
    notices about that item: item A's run does not send item B's mail (a 交办 email listing
    several items goes with the first of their runs to deliver); the sweep, the intake and
    the command line send the rest.
    """
    from rectify.delivery import NOTICES
    from tasks.reminders import deliver_outbox

    deliver_outbox(sources=NOTICES, items=(code,) if code else None)


def _current_wait(code: str, refusals: dict[str, tuple[str, dict]]) -> waits.Wait | None:
    """The ledger's answer to "which form now", with the last refusal and entries of that key."""
    with steps.transaction(_db_url()) as session:
        wait = waits.current_wait(session, code)
        if wait is not None and wait.key_base in refusals:
            reason, entered = refusals[wait.key_base]
            wait = waits.current_wait(session, code, refusal=reason, entered=entered)
    return wait


def _read(code: str) -> steps.ItemView:
    with steps.transaction(_db_url()) as session:
        return steps.read_item(session, code)


@flow(
    name="rectification-item",
    flow_run_name=_run_name,
    persist_result=True,
    description="单个整改事项：交办、销号申请（或申请延期与审批）、领导审核（签字背书）、秘书审核、销号",
)
def rectification_item(code: str, title: str = "", day: date | None = None) -> str | State:
    """Drive one item to closure; returns a one-line Chinese summary.

    No parameter names a person: anyone with the UI can start a run and type its parameters, so
    a run never signs in someone's name. An item at 待交办 waits for a secretary's 交办 form
    (with her emailed code), or for the intake's 交办确认 to sign it (docs/acting-by-email.md).
    """
    logger = get_run_logger()
    if refused_day := day_refusal(day):
        logger.error(refused_day)
        return Failed(message=refused_day)
    # wait key base -> (why its last input was refused, what the person entered)
    refusals: dict[str, tuple[str, dict]] = {}
    attempts: dict[str, int] = {}
    announced = False
    while True:
        view = _read(code)
        if view.status is Status.closed:
            confirm_closed(code, _business_day(day))
            _deliver(code)
            set_wait_tag(None)
            logger.info("%s 已销号，流程结束", code)
            return f"{code} 已销号"

        if view.status is Status.ongoing and view.owner and not announced:
            # 长期坚持 from the register: no state to move, but the owner is told once what
            # they answer for, as the command line does (idempotent on the 交办 key)
            announced = True
            base, entered = "assign", {}
            reason = assign_item(code, _business_day(day), None)
        else:
            wait = _current_wait(code, refusals)
            if wait.step == "assign":
                request_assignment(code, _business_day(day))
                _deliver(code)
            set_wait_tag(wait.tag)
            base = wait.key_base
            key = f"{base}-{attempts.get(base, 0)}"
            form = _suspend(build_form(wait), key)
            if not isinstance(form, (str, RunInput)):  # not stored by a person's Resume
                form = refused_input(form, [code], wait.step, _business_day(day), f"{current_run.id}:{key}")
                _deliver(code)  # the fresh codes, the secretaries' notice
            if isinstance(form, str):  # input the form's own rules refuse (written past the server)
                base, entered, reason = wait.key_base, {}, form
                logger.warning("%s：输入未被受理：%s", code, reason)
                refusals[base] = (reason, entered)
                attempts[base] = attempts.get(base, 0) + 1
                continue
            entered = form.model_dump(mode="json")
            reason = apply_form(
                code, _business_day(day), wait.step, entered, wait.title, f"{current_run.id}:{key}"
            )

        if reason:
            logger.warning("%s：输入未被受理：%s", code, reason)
            refusals[base] = (reason, entered)
            attempts[base] = attempts.get(base, 0) + 1
        _deliver(code)  # a step's emails, or a refusal's fresh code after too many wrong tries


def _suspend(form, key: str):
    """The input this key already received (a replay after a resume: no "Suspending flow run"
    line for a wait that does not happen), else suspend until the form is filled in.

    The input is believed only if the person's Resume stored it (flows.input_proof: checked
    against the run's state history; else an `input_proof.Refused`), and it is validated here
    against the form the run built, not only by the server: anyone with the API can delete a
    wait's stored schema or write a key's input directly (`POST /api/flow_runs/{id}/input`), so
    an extra field, a name not offered or an over-long text comes back as the one line why (a
    str), never as a crashed run. The checked value is the one parsed (no second read)."""
    from pydantic import ValidationError
    from prefect.client.orchestration import get_client
    from prefect.input.run_input import keyset_from_base_key

    from flows import input_proof

    keyset = keyset_from_base_key(f"suspended-{key}")  # Prefect's own naming of a suspend's keys
    with get_client(sync_client=True) as client:
        stored = input_proof.stored_input(client, current_run.id, keyset["response"])
        refused = input_proof.check(client, current_run.id, key, stored)
    if refused is not None:
        return refused
    if stored is None:
        try:
            return suspend_flow_run(wait_for_input=form, key=key)
        except ValidationError as exc:
            return input_proof.invalid(exc, form, None)
    try:
        raw = stored.decoded_value
    except ValueError:  # not JSON at all
        return input_proof.Refused("表单内容无效（表单），未作任何修改，请重新填写")
    try:
        return form.load_from_flow_run_input(stored)
    except (ValidationError, TypeError) as exc:
        if isinstance(exc, TypeError):  # not an object
            return input_proof.Refused("表单内容无效（表单），未作任何修改，请重新填写")
        return input_proof.invalid(exc, form, raw)


def refused_input(refused, item_codes: list[str], step: str, day: date, attempt: str) -> str:
    """An input the run does not believe (flows.input_proof.Refused): the line for the form's
    top; when a code may have been read, the step's codes voided and reissued, secretaries told
    (once per attempt), unless it was the console that woke the run without input."""
    from rectify import input_guard

    if refused.raw is not None:
        # the code belongs to one item: the item's own, or (交办确认) one item of the batch
        burnt = next(
            filter(
                None,
                (input_guard.burn_exposed(_db_url(), c, step, refused.raw, day, attempt) for c in item_codes),
            ),
            None,
        )
        return refused.reason + (
            f"；本次使用的验证码已作废，新的验证码已发送到{burnt}的邮箱" if burnt else ""
        )
    if not refused.tampered:
        return refused.reason
    with steps.transaction(_db_url()) as session:
        if refused.missing and input_guard.console_woke(session, item_codes, refused.since):
            return "流程已由命令行唤醒，请按最新情况重新填写"
        input_guard.refuse_tampered(session, item_codes, step, day, attempt)
    return refused.reason


def set_wait_tag(tag: str | None) -> None:
    """The worklist tag (待交办 · 待提交 · 待审批延期 · 待领导审核 · 待审核) on this run, replacing the last."""
    from tasks.run_tags import replace_tags

    replace_tags(current_run.id, waits.WAIT_TAGS.values(), [tag] if tag else [])
