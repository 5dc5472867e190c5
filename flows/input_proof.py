"""Was a wait's stored input written by the person's Resume itself? (issue #9, stored inputs)

Prefect's API lets anyone holding the shared UI password read a run's inputs; plain Prefect
also lets them delete and write them (`DELETE/POST /api/flow_runs/{id}/input…`) and force a
run back into a wait. A person's Resume stores the form, with their 验证码, in the same
database transaction as the state change that resumes the run (prefect/server/api/flow_runs.py
`resume_flow_run`: `set_flow_run_state` to Scheduled "Resuming", then `create_flow_run_input`
under the wait's response key, then commit), and it stays readable until the run executes.

The server every documented set-up runs (flows/api_guard.py: `rectify server`, `rectify up`)
refuses the delete, a written response key and a forced pause with a key, so there the
input under a wait's response key is the Resume's. The run still checks it against the run's
state history, which the API cannot rewrite (states are append-only, their timestamps and the
input's `created` are set by the server's clock), for a server started without the guard and
for what the guard does not see:

- the run waited at this key exactly once (a second Paused state with the key was forced);
- the input was not created before the first transition out of that wait (written while the
  run waited, before anyone resumed; the person's Resume then fails on the existing key);
- a wait that was left with no input at all lost it: a resume always stores one (the code is a
  required field), so it was deleted (or the run was forced out of the wait; the console's wake
  after a ledger change is told apart by the caller: rectify.input_guard.console_woke);
- an input at a key the run never waited at was written ahead by someone: refused outright,
  without trying its code (no wrong try is counted against anyone).

No upper bound in time: an input deleted and written again after the resume is the guard's to
refuse (403), not a clock's. The 1-second window this module had (RESUME_WINDOW) bounded that
rewrite only against someone slower than a script, and could refuse a real person's resume on a
loaded server (the state change and the insert are one request, but the event loop interleaves
concurrent resumes between them).

A refusal of the first three kinds means a person's code may have been read: the caller voids
the step's live codes, sends fresh ones and tells the secretaries (rectify.input_guard).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

AHEAD = "该表单内容不是通过“Resume”（恢复）提交的（在等待之前已被写入），未予受理，未作任何修改"
REPLACED = (
    "该表单内容在提交后被改动（不是由“Resume”（恢复）当时保存的），未予受理，未作任何修改；"
    "相关验证码已作废，新的验证码已发送到本人邮箱，秘书已收到提示"
)
MISSING = (
    "提交的表单内容在流程处理前被删除，未予受理，未作任何修改；"
    "相关验证码已作废，新的验证码已发送到本人邮箱，秘书已收到提示"
)
TWICE = (
    "该等待被人为重复设置（同一表单出现两次等待），表单内容未予受理，未作任何修改；"
    "相关验证码已作废，新的验证码已发送到本人邮箱，秘书已收到提示"
)


@dataclass(frozen=True)
class Refused:
    """An input the run does not believe or accept. `tampered`: a code may have been read
    (void, reissue, tell); `missing` with `since`: no input at all after the wait that began at
    `since`; `raw`: a believed input whose content the run's form refuses."""

    reason: str
    tampered: bool = False
    missing: bool = False
    since: datetime | None = None
    raw: dict | None = None  # content the run's own form refused (its code may be right)


def stored_input(client, run_id: UUID, key: str):
    """The stored input (value and the server's `created`) under `key`, or None."""
    found = client.filter_flow_run_input(run_id, key_prefix=key, limit=1, exclude_keys=set())
    return next((f for f in found if f.key == key), None)


def check(client, run_id: UUID, pause_key: str, stored) -> Refused | None:
    """None when `stored` (a FlowRunInput or None) is what the wait at `pause_key` should hold."""
    states = sorted(client.read_flow_run_states(run_id), key=lambda s: s.timestamp)
    waits = [n for n, s in enumerate(states) if s.is_paused() and s.state_details.pause_key == pause_key]
    if not waits:
        return None if stored is None else Refused(AHEAD)
    if len(waits) > 1:
        return Refused(TWICE, tampered=True)
    after = states[waits[0] + 1 :]
    if not after:  # still waiting (not this run's execution): nothing to judge yet
        return None
    if stored is None:
        return Refused(MISSING, tampered=True, missing=True, since=states[waits[0]].timestamp)
    if stored.created < after[0].timestamp:  # there before the person's resume
        return Refused(REPLACED, tampered=True)
    return None


def invalid(exc, form, raw) -> Refused:
    """Content the run's own form refuses (flows.forms: types, lengths, choices, dates), named
    by the fields' titles as the person sees them."""
    fields = form.model_fields
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else ""
        title = fields[name].title if name in fields and fields[name].title else (name or "表单")
        what = (
            "日期无效"
            if "date" in err.get("type", "")
            else "不是可选项"
            if err.get("type") == "literal_error"
            else "过长"
            if "too_long" in err.get("type", "")
            else "多余字段"
            if err.get("type") == "extra_forbidden"
            else "内容不符合要求"
        )
        parts.append(f"{title}：{what}")
    listed = "；".join(dict.fromkeys(parts)) or "表单"
    return Refused(
        f"表单内容无效（{listed}），未作任何修改，请重新填写", raw=raw if isinstance(raw, dict) else None
    )
