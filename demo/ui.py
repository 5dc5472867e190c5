"""`make ui`: the same demo in the Prefect UI, where the secretary works.

`rectify up` on the demo's data folder (./demo-run: the ledger `make demo` left, or a fresh one),
then one run of the `intake` deployment with the demo register. Started from the UI's API it
signs nothing in anyone's name (issue #9): it imports, then waits (*Suspended*, tag 待交办确认)
for the secretary's 交办确认 with the code emailed to her (in ./demo-run/outbox); after her
Resume the UI shows one `rectification-item` run per open item, waiting for its closure form.

The instructions are printed once the run waits and the email is written (not before: a
newcomer who opens the outbox at once must find it), with the email's file; once she has
confirmed, the runs page is printed. Every wait has a ceiling for a loaded machine, not an
expectation. Ctrl-C stops everything (`rectify up` pauses the deployments, then stops the
server); the data stays in ./demo-run for the next `make ui` or `make demo`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from demo.register import build  # noqa: E402
from demo.run_demo import BIN, REGISTER_DAY, RUN, SECRETARY, SWEEP_DAY  # noqa: E402

REGISTER = RUN / "xx局问题整改清单.xlsx"
WAIT_SECONDS = 300  # a ceiling for a loaded machine, not an expectation


def api(url: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # a busy server is slow
        return json.loads(response.read())


def served(url: str) -> str | None:
    """The intake deployment's id once `rectify up` serves it."""
    try:
        found = api(url, "/deployments/filter", {"deployments": {"name": {"any_": ["intake"]}}})
    except OSError:
        return None
    return found[0]["id"] if found and not found[0]["paused"] else None


def main() -> None:
    port = os.environ.get("PORT", "4200")
    url = f"http://127.0.0.1:{port}/api"
    fresh = not (RUN / "rectify.db").exists()
    RUN.mkdir(exist_ok=True)
    if not REGISTER.exists():
        build(REGISTER)
    env = {
        **os.environ,
        "RECTIFY_HOME": str(RUN),
        "RECTIFY_TODAY": SWEEP_DAY,
        "RECTIFY_USER": SECRETARY,
        "PREFECT_HOME": str(RUN / "prefect-home"),
    }
    for key in ("RECTIFY_DATABASE_URL", "RECTIFY_OUTBOX_DIR", "RECTIFY_REPORT_DIR", "RECTIFY_SMTP_HOST"):
        env.pop(key, None)
    # Ctrl-C reaches both processes; `rectify up` does the stopping, this one waits for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    up = subprocess.Popen(
        [str(BIN / "rectify"), "up", "--port", port, "--poll", "2"],
        env=env,
        cwd=RUN,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while (deployment := served(url)) is None:
        if up.poll() is not None:
            sys.exit(up.returncode)
        if time.monotonic() > deadline:
            up.terminate()
            sys.exit(f"演示中止：{WAIT_SECONDS} 秒内 rectify up 未提供 intake 部署")
        time.sleep(1)
    params: dict = {"paths": [str(REGISTER)]}
    if fresh:  # the register's own day, as in `make demo`, so the deadlines read the same
        params["day"] = REGISTER_DAY
    run = api(
        url,
        f"/deployments/{deployment}/create_flow_run",
        {
            "name": f"导入 {REGISTER.name}",
            "parameters": params,
            "idempotency_key": f"make-ui-{REGISTER.stat().st_mtime_ns}",
        },
    )
    ui = url.removesuffix("/api")
    link = f"{ui}/runs/flow-run/{run['id']}"
    print(f"\n已启动整改清单导入“{run['name']}”：{link}，正在导入……", flush=True)
    state = wait_while(up, url, run["id"], lambda s: s["type"] not in ("PAUSED", "COMPLETED"))
    if state["type"] == "PAUSED":
        mail, code = confirm_mail()
        print(
            f"\n新事项的交办等待秘书确认（运行标签“待交办确认”）：\n"
            f"  1. 打开 {link}，点右上角 Resume，弹出的表单中有本次交办的事项清单；\n"
            f"  2. 交办人选“{SECRETARY}”，验证码填发给{SECRETARY}的【交办确认】邮件中的验证码"
            f"（{code or '见邮件'}，邮件文件：{mail or RUN / 'outbox'}）；\n"
            "  3. 点 Submit。",
            flush=True,
        )
        state = wait_while(up, url, run["id"], lambda s: s["type"] != "COMPLETED", ceiling=None)
    if state["type"] == "COMPLETED":
        print(
            f"\n交办已确认。每个事项一个“rectification-item”流程运行，等待销号申请（标签“待提交”）："
            f"{ui}/runs\n销号申请表单较长：浏览器窗口较矮时，表单顶部的事项说明会被挤得看不见，"
            "可按 Ctrl+减号 缩小页面后再看。",
            flush=True,
        )
    print("按 Ctrl-C 停止。", flush=True)
    sys.exit(up.wait())


def wait_while(up: subprocess.Popen, url: str, run_id: str, waiting, ceiling: float | None = WAIT_SECONDS):
    """Poll the run's state until `waiting(state)` is false; the state then. Stops with one
    Chinese line if the run failed, `rectify up` exited, or the ceiling passed."""
    deadline = None if ceiling is None else time.monotonic() + ceiling
    while True:
        if up.poll() is not None:
            sys.exit(up.returncode)
        try:
            state = api(url, f"/flow_runs/{run_id}")["state"]
        except OSError:
            state = None
        if state is not None:
            if state["type"] in ("FAILED", "CRASHED", "CANCELLED"):
                up.terminate()
                sys.exit(f"演示中止：导入流程运行结束于 {state['name']}，详见 Prefect 界面中该运行的日志")
            if not waiting(state):
                return state
        if deadline is not None and time.monotonic() > deadline:
            up.terminate()
            sys.exit(f"演示中止：{WAIT_SECONDS} 秒内导入流程运行未就绪")
        time.sleep(1)


def confirm_mail() -> tuple[Path | None, str | None]:
    """The newest 交办确认 request in the outbox (written before the run pauses) and its code.

    The .eml files are base64 inside, unreadable in a text editor; the demo's secretary is
    whoever runs it on this machine, with the outbox on the same disk, so the code is shown
    here as she would read it in her mail program."""
    from email import message_from_binary_file, policy

    for path in sorted((RUN / "outbox").glob("*-act_request.eml"), reverse=True):
        with open(path, "rb") as f:
            message = message_from_binary_file(f, policy=policy.default)
        if "交办确认" in str(message["Subject"]):
            found = re.search(r"验证码：(\d+)", message.get_body(("plain",)).get_content())
            return path, found.group(1) if found else None
    return None, None


if __name__ == "__main__":
    main()
