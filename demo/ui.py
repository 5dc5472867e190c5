"""`make ui`: the same demo in the Prefect UI, where the secretary works.

`rectify up` on the demo's data folder (./demo-run: the ledger `make demo` left, or a fresh one),
then one run of the `intake` deployment with the demo register. Started from the UI's API it
signs nothing in anyone's name (issue #9): it imports, then waits (*Suspended*, tag 待交办确认)
for the secretary's 交办确认 with the code emailed to her (in ./demo-run/outbox); after her
Resume the UI shows one `rectification-item` run per open item, waiting for its closure form. Ctrl-C stops everything (`rectify up` pauses the deployments, then stops
the server); the data stays in ./demo-run for the next `make ui` or `make demo`.
"""

from __future__ import annotations

import json
import os
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
    request = urllib.request.Request(f"{url}{path}", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
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
    env = {**os.environ, "RECTIFY_HOME": str(RUN), "RECTIFY_TODAY": SWEEP_DAY,
           "RECTIFY_USER": SECRETARY, "PREFECT_HOME": str(RUN / "prefect-home")}
    for key in ("RECTIFY_DATABASE_URL", "RECTIFY_OUTBOX_DIR", "RECTIFY_REPORT_DIR", "RECTIFY_SMTP_HOST"):
        env.pop(key, None)
    # Ctrl-C reaches both processes; `rectify up` does the stopping, this one waits for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    up = subprocess.Popen([str(BIN / "rectify"), "up", "--port", port, "--poll", "2"], env=env,
                          cwd=RUN, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
    run = api(url, f"/deployments/{deployment}/create_flow_run",
              {"parameters": params, "idempotency_key": f"make-ui-{REGISTER.stat().st_mtime_ns}"})
    ui = url.removesuffix("/api")
    print(f"\n已启动整改清单导入：{run['name']}。新事项的交办等待秘书确认：打开 {ui}/runs/flow-run/{run['id']}，"
          f"点 Resume 填写“交办确认”，验证码见发件箱（{RUN / 'outbox'}）中发给{SECRETARY}的【交办确认】邮件。"
          f"确认后即可在 {ui}/runs 看到每个事项一个“rectification-item”流程运行，等待销号申请。"
          "\n按 Ctrl-C 停止。", flush=True)
    sys.exit(up.wait())


if __name__ == "__main__":
    main()
