"""Benchmark: the status report for 10,000 items in every format (Word included).

    .venv/bin/python bench/bench_report.py [--items 10000] [--postgres URL] [--soffice]

Fills a fresh ledger in bulk (items, 1–3 measures each, import/assign/close audit records,
progress notes), then times compile_report and each format. The bar (issue 11): 8 s in all.
With --soffice, converts the .docx to PDF with LibreOffice (headless) and counts the pages.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from models import AuditRecord, Item, Measure, Person, ProgressNote, Role, Status  # noqa: E402
from models.db import session_factory  # noqa: E402
from rectify.report import compile_report, write_report  # noqa: E402
from rectify.report.output import report_paths  # noqa: E402
from rectify.schema import upgrade  # noqa: E402
from rectify.workdays import get_calendar  # noqa: E402

REGISTER_DAY = date(2026, 3, 2)
AS_OF = date(2026, 11, 30)
CATEGORIES = ["班子问题", "个人问题", "服务对象反映问题"]
SOURCES = ["专题组织生活会", "对照检查", "调研走访", "上级反馈"]
DEPARTMENTS = ["办公室", "综合科", "企业服务科", "人事科", "机关党支部", "财务科", "法规科"]
DEADLINE_TEXTS = ["2026年12月底前", "立行立改", "20个工作日内", "2026-09-30", "年底前", "长期坚持"]


def fill(url: str, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    cal = get_calendar()
    with session_factory(url)() as s, s.begin():
        people = [
            dict(
                name=f"领导{i:02d}",
                title="副局长",
                department="局领导",
                email=f"leader{i}@example.gov.cn",
                role=Role.leader,
            )
            for i in range(12)
        ]
        people += [
            dict(
                name=f"责任人{i:03d}",
                title="科长",
                department=rnd.choice(DEPARTMENTS),
                email=f"owner{i}@example.gov.cn",
                role=Role.owner,
            )
            for i in range(150)
        ]
        people.append(
            dict(
                name="秘书",
                title="督查",
                department="办公室",
                email="sec@example.gov.cn",
                role=Role.secretary,
            )
        )
        s.execute(insert(Person), people)
        leaders, owners = range(1, 13), range(13, 163)
        items, measures, audits, notes = [], [], [], []
        for i in range(1, n + 1):
            k = rnd.randint(1, 3)
            texts = [rnd.choice(DEADLINE_TEXTS) for _ in range(k)]
            dues = []
            for t in texts:
                if t == "长期坚持":
                    dues.append(None)
                elif t == "立行立改":
                    dues.append(cal.add_workdays(REGISTER_DAY, 5))
                elif t == "20个工作日内":
                    dues.append(cal.add_workdays(REGISTER_DAY, 20))
                elif t == "2026-09-30":
                    dues.append(date(2026, 9, 30))
                else:
                    dues.append(date(2026, 12, 31))
            deadline = max((d for d in dues if d), default=None)
            r = rnd.random()
            status = (
                Status.ongoing
                if deadline is None
                else Status.closed
                if r < 0.4
                else Status.submitted
                if r < 0.5
                else Status.in_progress
            )
            items.append(
                dict(
                    id=i,
                    code=f"ZG-2026-{i:05d}",
                    source=rnd.choice(SOURCES),
                    category=rnd.choice(CATEGORIES),
                    description=f"问题{i}：学习形式还不够丰富，学用结合不足，调研成果运用不够，企业反映的用工、融资问题跟踪解决不及时。",
                    department=rnd.choice(DEPARTMENTS),
                    remark="",
                    status=status,
                    owner_id=rnd.choice(owners),
                    leader_id=rnd.choice(leaders),
                    deadline=deadline,
                    register_date=REGISTER_DAY,
                    deadline_changed_on=REGISTER_DAY,
                )
            )
            for p, (t, d) in enumerate(zip(texts, dues)):
                measures.append(
                    dict(
                        item_id=i,
                        position=p,
                        deadline=d,
                        deadline_text=t,
                        text=f"措施{p + 1}：制定方案，明确责任人和完成时限，按月通报整改进度并建立长效机制。",
                    )
                )
            first = Status.ongoing if deadline is None else Status.new
            audits.append(
                dict(
                    item_id=i,
                    actor="秘书",
                    day=REGISTER_DAY,
                    action="import",
                    to_status=first.value,
                    comment="",
                )
            )
            if first is Status.new:
                audits.append(
                    dict(
                        item_id=i,
                        actor="秘书",
                        day=REGISTER_DAY,
                        action="assign",
                        from_status="new",
                        to_status="in_progress",
                        comment="",
                    )
                )
            if status in (Status.submitted, Status.closed):
                day = REGISTER_DAY + timedelta(days=rnd.randint(10, 200))
                audits.append(
                    dict(
                        item_id=i,
                        actor="责任人",
                        day=day,
                        action="submit",
                        from_status="in_progress",
                        to_status="submitted",
                        comment="",
                    )
                )
                if status is Status.closed:
                    audits.append(
                        dict(
                            item_id=i,
                            actor="秘书",
                            day=day + timedelta(days=2),
                            action="approve",
                            from_status="submitted",
                            to_status="closed",
                            comment="",
                        )
                    )
            if rnd.random() < 0.5:
                notes.append(
                    dict(
                        item_id=i,
                        day=REGISTER_DAY + timedelta(days=rnd.randint(0, 260)),
                        note="按计划推进",
                        percent=None,
                    )
                )
        for table, rows in ((Item, items), (Measure, measures), (AuditRecord, audits), (ProgressNote, notes)):
            for start in range(0, len(rows), 5000):
                s.execute(insert(table), rows[start : start + 5000])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument(
        "--postgres", help="an empty, migrated PostgreSQL ledger URL (default: a temporary SQLite file)"
    )
    ap.add_argument(
        "--soffice", action="store_true", help="also open the .docx in LibreOffice (PDF, page count)"
    )
    ap.add_argument("--keep", help="write the files here instead of a temporary folder")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    url = args.postgres or f"sqlite:///{tmp / 'ledger.db'}"
    if not args.postgres:
        upgrade(url)
    t0 = time.perf_counter()
    fill(url, args.items)
    print(f"台账：{args.items}个问题，造数 {time.perf_counter() - t0:.1f} 秒")

    out = Path(args.keep) if args.keep else tmp / "out"
    cal = get_calendar()
    timings = {}
    total0 = time.perf_counter()
    with session_factory(url)() as s:
        t = time.perf_counter()
        report = compile_report(s, AS_OF, cal, 30)
        timings["compile"] = time.perf_counter() - t
        for fmt in ("md", "html", "docx", "xlsx"):
            t = time.perf_counter()
            write_report(s, report, out, [fmt])
            timings[fmt] = time.perf_counter() - t
    total = time.perf_counter() - total0
    paths = report_paths(out, AS_OF, ["md", "html", "docx", "xlsx"])
    print(report.summary_sentence)
    for key, sec in timings.items():
        size = f"  {paths[key].stat().st_size / 1e6:.1f} MB" if key in paths else ""
        print(f"  {key:8s} {sec:6.2f} 秒{size}")
    verdict = "达标" if total <= 8 else "未达标"
    print(f"合计 {total:.2f} 秒（要求 ≤ 8 秒：{verdict}）")

    if args.soffice:
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        if not soffice:
            sys.exit("未找到 LibreOffice（soffice）")
        t = time.perf_counter()
        subprocess.run(
            [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(out), str(paths["docx"])],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        pdf = paths["docx"].with_suffix(".pdf")
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
        print(f"LibreOffice 打开并转换为 PDF：{pages} 页，{time.perf_counter() - t:.0f} 秒")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
