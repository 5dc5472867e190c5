"""`rectification-item`: one flow run per item, from assignment to closure (销号).

The run never holds a process while it waits: it suspends with a form (a RunInput) and exits;
a resume (Prefect UI's Resume form, or `rectify submit` / `rectify review`) reschedules it, and
it starts again from the top. That is why every step first reads the item from the ledger, the
single source of truth, and why each wait has a key derived from the ledger (`submit-<round>-
<attempt>`): on the re-run Prefect hands back, without waiting, the input a key already
received, and waits only at the first key that has none.

Every change goes through rectify.workflow (via rectify.item_process), with the same role rules
as the command line. Input the rules refuse changes nothing; the run waits again with the reason
at the top of the next form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from pydantic import Field
from pydantic.fields import FieldInfo

from models import Status
from rectify import item_process as steps
from rectify.settings import get_settings, office_today


class Decision(str, Enum):
    approve = steps.APPROVE
    reject = steps.REJECT


class AssignForm(RunInput):
    """交办：由秘书确认整改清单中的责任人，或指定责任人。"""

    owner: str = Field(title="责任人", description="负责具体整改的人员姓名（须在人员名单中）")
    leader: str = Field("", title="责任领导", description="可留空：沿用整改清单中的责任领导")
    secretary: str = Field(title="交办人（秘书）", description="进行交办的秘书姓名")


class Request(str, Enum):
    closure = "申请销号"
    extension = "申请延期"


class ClosureSubmission(RunInput):
    """销号申请（或某条措施的延期申请）：由责任人或责任领导填写。"""

    request: Request = Field(Request.closure, title="申请事项",
                             description="申请销号；或为一条措施申请延期（填写下方延期三项）")
    summary: str = Field("", title="整改情况说明", description="整改措施落实情况和取得的成效（申请销号时必填）")
    evidence: list[str] = Field(default_factory=list, title="佐证材料",
                                description="文件路径或链接，每项一条")
    completes: list[int] = Field(default_factory=list, title="本次完成的措施",
                                 description="本次申请同时完成的措施序号（第几条），每项一条")
    measure: Optional[int] = Field(None, title="延期措施序号", description="申请延期的措施是第几条")
    extend_to: Optional[date] = Field(None, title="申请延期至", description="新的完成时限（须为工作日）")
    reason: str = Field("", title="延期理由", description="申请延期时必填")
    submitter: str = Field(title="提交人", description="责任人或责任领导的姓名")


class ExtensionDecision(str, Enum):
    approve = steps.extensions.APPROVE
    reject = steps.extensions.REJECT


class ExtensionReview(RunInput):
    """延期审批：由秘书填写，申请人不能审批自己的申请。"""

    decision: ExtensionDecision = Field(title="审批结论", description="批准延期，或不予延期")
    comment: str = Field("", title="审批意见", description="不予延期时必须填写")
    reviewer: str = Field(title="审批人", description="秘书姓名")


class ClosureReview(RunInput):
    """销号审核：由秘书填写，提交人不能审核自己的申请。"""

    decision: Decision = Field(title="审核结论", description="同意销号，或退回重新整改")
    comment: str = Field("", title="审核意见", description="退回时必须填写退回意见")
    reviewer: str = Field(title="审核人", description="秘书姓名")
    recheck_on: date | None = Field(None, title="复核日期（回头看）",
                                    description="同意销号时填写；留空则为三个月后")


def _db_url() -> str:
    return get_settings().database_url


def _business_day(day: date | None) -> date:
    """The day recorded in the audit trail: fixed by the caller (back-filling, tests) or today."""
    return day or office_today()


def _run_name() -> str:
    params = current_run.parameters
    return f"{params['code']} {params.get('title') or ''}".strip()


# Tasks never cache: after a resume the run starts again from the top and must see the ledger
# as it is now, not as a cached result of the previous attempt.
@task(name="交办", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def assign_item(code: str, day: date, secretary: str | None, owner: str | None = None,
                leader: str | None = None) -> str | None:
    return steps.assign_from_register(_db_url(), code, day, secretary, owner, leader)


@task(name="申请销号", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def submit_closure(code: str, day: date, form: dict) -> str | None:
    if form.get("request") == Request.extension.value:
        return steps.apply_extension_request(
            _db_url(), code, day, submitter=form["submitter"], measure=form.get("measure"),
            to=date.fromisoformat(form["extend_to"]) if form.get("extend_to") else None,
            reason=form.get("reason", ""))
    return steps.apply_submission(_db_url(), code, day, submitter=form["submitter"],
                                  summary=form["summary"], evidence=form["evidence"],
                                  completes=form.get("completes", []))


@task(name="审批延期", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def review_extension(code: str, day: date, measure: int, form: dict) -> str | None:
    return steps.apply_extension_review(_db_url(), code, day, measure=measure,
                                        reviewer=form["reviewer"], decision=form["decision"],
                                        comment=form["comment"])


@task(name="审核销号", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def review_closure(code: str, day: date, form: dict) -> str | None:
    recheck_on = form.get("recheck_on")
    return steps.apply_review(_db_url(), code, day, reviewer=form["reviewer"],
                              decision=form["decision"], comment=form["comment"],
                              recheck_on=date.fromisoformat(recheck_on) if recheck_on else None)


@task(name="销号通知", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def confirm_closed(code: str, day: date) -> None:
    steps.confirm_closed(_db_url(), code, day)


def _deliver() -> None:
    """Send what the step queued, after its transaction committed (the outbox's own task).

    Event notices only: the sweep's digests belong to the sweep's day, and an item run on a
    Saturday must not flush Friday's retries as a second, stale email.
    """
    try:
        from rectify.delivery import NOTICES
        from tasks.reminders import deliver_outbox
    except ImportError:
        get_run_logger().warning("邮件投递任务（tasks.reminders.deliver_outbox）不可用，邮件留在发件箱中")
        return
    deliver_outbox(sources=NOTICES)


def _read(code: str) -> steps.ItemView:
    with steps.transaction(_db_url()) as session:
        return steps.read_item(session, code)


@flow(name="rectification-item", flow_run_name=_run_name, persist_result=True,
      description="单个整改事项：交办、等待销号申请、等待秘书审核、销号")
def rectification_item(code: str, title: str = "", secretary: str | None = None,
                       day: date | None = None) -> str:
    """Drive one item to closure; returns a one-line Chinese summary.

    `secretary` signs the assignment of the register's owner (intake passes its actor); without
    one the run waits for a secretary to fill in the assignment form.
    """
    logger = get_run_logger()
    refusals: dict[str, str] = {}  # wait key base -> why its last input was refused
    attempts: dict[str, int] = {}
    while True:
        view = _read(code)
        if view.status is Status.closed:
            confirm_closed(code, _business_day(day))
            _deliver()
            logger.info("%s 已销号，流程结束", code)
            return f"{code} 已销号"

        wait = next_wait(view, secretary, refusals, attempts)
        if wait is None:  # the register's owner, signed by the secretary who imported it
            base = "assign"
            reason = assign_item(code, _business_day(day), secretary)
            # refused (e.g. no leader in the register): the next turn asks with the form
        else:
            base = wait.base
            form = suspend_flow_run(wait_for_input=wait.form.with_initial_data(
                description=wait.description), key=wait.key)
            reason = _apply(wait, code, _business_day(day), form)

        if reason:
            logger.warning("%s：输入未被受理：%s", code, reason)
            refusals[base] = reason
            attempts[base] = attempts.get(base, 0) + 1
        else:
            _deliver()


@dataclass(frozen=True)
class Wait:
    """What the item's run waits for next: the form, its key and the words above it."""

    step: str  # assign | submit | extend | review
    base: str  # the key without its attempt number
    key: str
    description: str
    initial: dict[str, str] = field(default_factory=dict)  # values from the ledger, pre-filled
    measure: int | None = None  # the measure an extension decision is about

    @property
    def form(self) -> type[RunInput]:
        return form_for(self.step, self.initial)

    def as_dict(self) -> dict:
        return {"step": self.step, "key": self.key, "description": self.description,
                "initial": self.initial}


FORMS: dict[str, type[RunInput]] = {"assign": AssignForm, "submit": ClosureSubmission,
                                    "extend": ExtensionReview, "review": ClosureReview}


def form_for(step: str, initial: dict[str, str] | None = None) -> type[RunInput]:
    """The form of a step, with the ledger's values as defaults (keeping the Chinese titles)."""
    return _prefilled(FORMS[step], **(initial or {}))


def next_wait(view: steps.ItemView, secretary: str | None, refusals: dict[str, str],
              attempts: dict[str, int]) -> Wait | None:
    """The wait the run reaches next, from the ledger and the inputs this run refused so far.

    None when no form is needed: the item is closed, or it is new with an owner in the
    register and a `secretary` to sign the assignment (not yet refused). The flow above and
    the intake's pre-created waits (flows/intake.py) both ask this one function, so a run the
    intake leaves waiting is exactly where the flow would have suspended itself.
    """
    if view.status is Status.closed:
        return None
    if view.status is Status.new:
        step, base = "assign", "assign"
        if view.owner and secretary and base not in refusals:
            return None
        # Nobody named the secretary (or the register names no owner, or the assignment was
        # refused): a secretary signs it with the form, the register's names filled in.
        initial = {k: v for k, v in (("owner", view.owner), ("leader", view.leader)) if v}
        return Wait(step, base, f"{base}-{attempts.get(base, 0)}",
                    steps.describe_assign(view, refusals.get(base, "")), initial)
    measure = None
    if view.pending_extension:  # asked for (in the form or on the command line): the secretary
        step, base = "extend", f"extend-{view.pending_extension['id']}"
        measure = view.pending_extension["measure"]
        description = steps.describe_extension(view, refusals.get(base, ""))
    elif view.status in (Status.in_progress, Status.ongoing):
        # Each extension request moves the key on, so the form is asked again afresh.
        step, base = "submit", f"submit-{view.round + 1}" + (
            f"e{view.extension_requests}" if view.extension_requests else "")
        description = steps.describe_submission(view, refusals.get(base, ""))
    else:  # submitted
        step, base = "review", f"review-{view.round}"
        description = steps.describe_review(view, refusals.get(base, ""))
    return Wait(step, base, f"{base}-{attempts.get(base, 0)}", description, measure=measure)


def _apply(wait: Wait, code: str, day: date, form: RunInput) -> str | None:
    if wait.step == "assign":
        return assign_item(code, day, form.secretary, form.owner, form.leader or None)
    if wait.step == "submit":
        return submit_closure(code, day, form.model_dump(mode="json"))
    if wait.step == "extend":
        return review_extension(code, day, wait.measure, form.model_dump(mode="json"))
    return review_closure(code, day, form.model_dump(mode="json"))


def _prefilled(form: type[RunInput], **values: str | None) -> type[RunInput]:
    """The form with defaults from the ledger, keeping each field's Chinese title."""
    fields = {k: FieldInfo.merge_field_infos(form.model_fields[k], default=v)
              for k, v in values.items() if v}
    return form.with_initial_data(**fields) if fields else form
