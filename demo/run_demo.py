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
    rectify(
        "progress",
        "ZG-2026-001",
        "--note",
        "学习方案已经党组会审议通过",
        "--percent",
        "60",
        "--as",
        "赵磊",
        "--today",
        "2026-11-20",
    )
    # Measures are done one by one: 001's study plan is done; its 立行立改 weekly push (due
    # 11-09) is not, so 001 is overdue (红灯) although its latest measure is due 12-31.
    rectify(
        "measure",
        "ZG-2026-001",
        "1",
        "--done",
        "--note",
        "年度学习方案已经党组会审议通过并印发",
        "--as",
        "赵磊",
        "--today",
        "2026-11-20",
    )
    # 004's staffing ledger (15个工作日内, 11-23) needs more time: asked, approved, 原定时限 kept.
    rectify(
        "extend",
        "ZG-2026-004",
        "2",
        "--to",
        "2026-12-18",
        "--reason",
        "需等人社部门12月数据",
        "--as",
        "孙丽",
        "--today",
        "2026-11-23",
    )
    rectify(
        "extend", "ZG-2026-004", "2", "--approve", "--comment", "同意延期至12月18日", "--today", "2026-11-24"
    )
    # 012's submission completes its two measures.
    rectify(
        "submit",
        "ZG-2026-012",
        "--summary",
        "已修订《党员教育管理制度》并印发",
        "--evidence",
        "制度文件/党员教育管理制度（2026年修订）.pdf",
        "--complete",
        "1",
        "--complete",
        "2",
        "--as",
        "钱敏",
        "--today",
        "2026-11-24",
    )
    # The responsible leader signs the submission off first (签字背书, 待领导审核 → 待审核) ...
    rectify(
        "review",
        "ZG-2026-012",
        "--approve",
        "--comment",
        "情况属实，同意报销号",
        "--as",
        "吴海燕",
        "--today",
        "2026-11-25",
    )
    # ... then the secretary closes it. The 复核日期 (回头看) is three months after the approval
    # unless she sets it; the story sets the sweep day, so the sweep lists it and 回头看 follows.
    rectify(
        "review",
        "ZG-2026-012",
        "--approve",
        "--comment",
        "整改到位，同意销号",
        "--recheck-on",
        SWEEP_DAY,
        "--today",
        "2026-11-25",
    )
    rectify("list", "--today", SWEEP_DAY)
    rectify("show", "ZG-2026-004", "--today", SWEEP_DAY)
    # The deadline watch on SWEEP_DAY reaches every rung: 002 due in 1 working day, 003 in 5,
    # 010 due that day (leader copied), 011 3 working days overdue and 005 6 (leader), 007 11
    # (secretary). The emails land as .eml files in ./outbox.
    # The secretary's digest also lists ZG-2026-012 under 回头看 (复核日期 reached).
    rectify("remind", "--today", SWEEP_DAY)
    rectify("outbox")
    rectify(
        "recheck",
        "ZG-2026-012",
        "--confirm",
        "--comment",
        "制度已执行一个月，整改成效巩固",
        "--today",
        SWEEP_DAY,
    )
    rectify("calendar")  # 2027 has no official calendar yet: the fallback is said
    # The status report as of the sweep day. With no Prefect server configured the command
    # writes the files directly; on a server it runs the next-steps-report flow, whose
    # Markdown is also the `next-steps-report` artifact.
    rectify("report", "--as-of", SWEEP_DAY)
    print(f"\n演示完成。台账数据库：{RUN / 'rectify.db'}")
    print(f"催办邮件（.eml）：{RUN / 'outbox'}")
    print(f"整改工作情况报告：{RUN / 'reports'}")
    print("\n在 Prefect 界面中查看同一演示（每个事项一个流程运行、销号表单）：make ui")


if __name__ == "__main__":
    main()
