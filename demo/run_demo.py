"""`make demo`: the main job on the embedded default (SQLite ledger, Prefect's ephemeral mode,
emails as .eml files), in a fresh ./demo-run folder, through the real `rectify` command line.

Story: the bureau's special organisational-life meeting on 2026-11-02 produced the rectification
list; the secretary imports it and hands the items out. On Monday 2026-11-30 the deadline watch
runs, and the status report is compiled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "demo-run"
BIN = Path(sys.executable).parent
REGISTER_DAY = "2026-11-02"
SWEEP_DAY = "2026-11-30"
SECRETARY = "陈静"

sys.path.insert(0, str(ROOT))
from demo.register import ITEMS, build  # noqa: E402


def rectify(*args: str, check: bool = True) -> None:
    print(f"\n$ rectify {' '.join(args)}", flush=True)
    result = subprocess.run([str(BIN / "rectify"), *args], cwd=RUN, env=ENV)
    if check and result.returncode != 0:
        sys.exit(f"演示中止：rectify {args[0]} 失败（退出码 {result.returncode}）")


ENV = {
    **os.environ,
    "RECTIFY_DATABASE_URL": f"sqlite:///{RUN / 'rectify.db'}",
    "RECTIFY_OUTBOX_DIR": str(RUN / "outbox"),
    "RECTIFY_REPORT_DIR": str(RUN / "reports"),
    "RECTIFY_USER": SECRETARY,
    "RECTIFY_TODAY": SWEEP_DAY,  # the story's Monday: the sweep may not run ahead of "today"
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_HOME": str(RUN / "prefect-home"),
}
ENV.pop("RECTIFY_SMTP_HOST", None)  # the embedded default writes .eml files


def main() -> None:
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir()
    register = build(RUN / "xx局问题整改清单.xlsx")
    print(f"演示台账：{register}")
    rectify("init")
    rectify("import", register.name, "--today", REGISTER_DAY)
    for code, *_ in ITEMS:  # the secretary hands every new item to the owner named in the sheet
        owner = next(i[7] for i in ITEMS if i[0] == code)
        rectify("assign", code, "--owner", owner, "--today", REGISTER_DAY)
    rectify("progress", "ZG-2026-001", "--note", "学习方案已经党组会审议通过", "--percent", "60",
            "--as", "赵磊", "--today", "2026-11-20")
    rectify("submit", "ZG-2026-012", "--summary", "已修订《党员教育管理制度》并印发",
            "--evidence", "制度文件/党员教育管理制度（2026年修订）.pdf", "--as", "钱敏",
            "--today", "2026-11-24")
    rectify("review", "ZG-2026-012", "--approve", "--comment", "整改到位，同意销号",
            "--today", "2026-11-25")
    rectify("list", "--today", SWEEP_DAY)
    # The deadline watch on SWEEP_DAY reaches every rung: 002 due in 1 working day, 003 in 5,
    # 010 due that day (leader copied), 011 3 working days overdue and 005 6 (leader), 007 11
    # (secretary). The emails land as .eml files in ./outbox.
    rectify("remind", "--today", SWEEP_DAY)
    rectify("outbox")
    # The status report as of the sweep day, through the next-steps-report flow (its Markdown
    # is also the `next-steps-report` artifact in Prefect).
    rectify("report", "--as-of", SWEEP_DAY)
    print(f"\n演示完成。台账数据库：{RUN / 'rectify.db'}")
    print(f"催办邮件（.eml）：{RUN / 'outbox'}")
    print(f"整改工作情况报告：{RUN / 'reports'}")
    print("\n在 Prefect 界面中查看同一演示（每个事项一个流程运行、销号表单）：make ui")


if __name__ == "__main__":
    main()
