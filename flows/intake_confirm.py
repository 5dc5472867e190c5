"""The intake run's wait for 交办确认 (rectify.intake_confirm): one code signs a register.

An intake started from a deployment (the UI's Run form, `POST /api/deployments/{id}/create_flow_run`)
proves nobody, so it signs nothing itself: after the import it suspends with the form
「交办确认」 (the batch's items, ticked; the secretary; her code), exactly as an item run waits
for its forms (flows.item._suspend: the input is validated by the run against the form it built,
a replayed input is read without a second wait, a refusal waits again under the next key
`confirm-<n>` with the reason on top). The intake run carries the tag 待交办确认 while it waits.
Whether the run came from a deployment is Prefect's record of the run (its deployment id), not
a parameter anyone can type: an in-process call (the operator's console, tests) has none.
"""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.input import RunInput
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_run

from flows.forms import build_form
from flows.item import _deliver, _suspend, refused_input
from rectify import intake_confirm as confirm
from rectify import item_process as steps
from rectify.settings import get_settings

ACTOR_REFUSED = (
    "从界面或接口启动的导入不能指定签署人（actor），台账未作任何修改：请不填 actor 重新启动，"
    "交办由秘书凭邮件验证码在本运行的“交办确认”表单中签署"
)


def started_from_deployment() -> bool:
    return current_deployment.id is not None


def this_run_link() -> str | None:
    base = (get_settings().ui_url or "").strip().rstrip("/")
    return f"{base}/runs/flow-run/{current_run.id}" if base and current_run.id else None


def _wait(codes: list[str], refusal: str, entered: dict):
    with steps.transaction(get_settings().database_url) as session:
        held = confirm.batch(session, codes)
        return confirm.confirm_wait(session, held, refusal=refusal, entered=entered) if held else None


@task(name="交办确认", task_run_name="交办确认", cache_policy=NO_CACHE)
def apply_confirmation(
    codes: list[str], form: dict, day: date, attempt: str
) -> tuple[str | None, dict[str, str]]:
    return confirm.apply(get_settings().database_url, codes, form, day, attempt)


def wait_for_confirmation(codes: list[str], day: date) -> dict:
    """Wait until a proven secretary signs (or the batch is empty: signed meanwhile on the
    command line); returns who signed what."""
    from tasks.run_tags import replace_tags

    logger = get_run_logger()
    attempt, refusal = 0, ""
    entered: dict = {}
    reason: str | None
    refused: dict[str, str] = {}
    done: dict = {}
    while (wait := _wait(codes, refusal, entered)) is not None:
        replace_tags(current_run.id, [confirm.TAG], [confirm.TAG])
        key = f"{wait.key_base}-{attempt}"
        form = _suspend(build_form(wait), key)
        if not isinstance(form, (str, RunInput)):  # not stored by the secretary's Resume
            form = refused_input(form, codes, confirm.STEP, day, f"{current_run.id}:{key}")
        if isinstance(form, str):
            reason, entered = form, {}
        else:
            entered = form.model_dump(mode="json")
            reason, refused = apply_confirmation(codes, entered, day, f"{current_run.id}:{key}")
        if reason is None:
            for code, why in refused.items():
                logger.warning("%s 未能交办：%s（该事项等待逐项交办）", code, why)
            signed = [c for c in entered.get("items") or [] if c not in refused]
            done = {"secretary": entered.get("secretary"), "signed": signed, "refused": refused}
            break
        logger.warning("交办确认未被受理：%s", reason)
        refusal, entered = reason, {k: v for k, v in entered.items() if k != "code"}
        attempt += 1
        _deliver()  # a fresh code after too many wrong tries
    replace_tags(current_run.id, [confirm.TAG], [])
    return done
