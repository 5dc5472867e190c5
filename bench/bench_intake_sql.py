"""Benchmark: SQL statements and CPU per item in the intake's ledger work (no Prefect server).

    .venv/bin/python bench/bench_intake_sql.py [--items 1000]

The intake's ledger steps before any run exists, on a temporary SQLite ledger, each counted
with a SQLAlchemy `before_cursor_execute` listener (counting lives here, not in the product):
- the import of an `--items` register started from a deployment (imported as the system, the
  交办 held for 交办确认, each secretary's request queued);
- 交办确认: the secretary's code proves her and every item is signed in one transaction
  (rectify.intake_confirm.apply);
- the first wait of every item's run after it (flows.intake.pending_runs: the 销号申请 forms).
Statement counts do not depend on the machine's load; the seconds do (the load is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--show", type=int, default=0, help="print the N most frequent statements")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-sql-"))
    os.environ.update(
        RECTIFY_DATABASE_URL=f"sqlite:///{tmp / 'ledger.db'}",
        RECTIFY_OUTBOX_DIR=str(tmp / "outbox"),
        RECTIFY_REPORT_DIR=str(tmp / "reports"),
    )
    from sqlalchemy import event, select

    from demo.register import build_cycled
    from models import ActionCode, Person
    from models.db import get_engine
    from rectify import codes
    from rectify import intake_confirm as confirm
    from rectify.importer import import_register
    from rectify.item_process import transaction
    from rectify.schema import upgrade
    from rectify.settings import get_settings, office_today
    from rectify.workdays import get_calendar
    from flows.intake import pending_runs

    url = os.environ["RECTIFY_DATABASE_URL"]
    upgrade(url)
    settings = get_settings()
    register = build_cycled(tmp / "big.xlsx", args.items, "BIG", "2027年6月30日")
    seen: Counter = Counter()

    @event.listens_for(get_engine(url), "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):
        seen[" ".join(statement.split())[:110]] += 1

    def step(name: str, fn):
        seen.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = sum(seen.values())
        print(
            f"{name}：{n} 条 SQL（每项 {n / args.items:.1f} 条），{took:.2f} 秒（CPU {cpu:.2f} 秒）"
            f"（负载 {load()}）",
            flush=True,
        )
        for statement, k in seen.most_common(args.show):
            print(f"    {k:6d}  {statement}")
        return value

    day = office_today()
    print(f"负载（开始）：{load()}；{args.items} 项；临时目录 {tmp}", flush=True)

    def imported():
        with transaction(url) as session:
            result = import_register(
                session,
                [register],
                day=day,
                calendar=get_calendar(settings.calendar_override),
                immediate_days=settings.immediate_working_days,
                actor=None,
                unproven=True,
            )
            item_codes = result.created + result.updated + result.unchanged
            held = confirm.batch(session, item_codes)
            confirm.queue_requests(session, held, day, None)
            return item_codes

    item_codes = step("导入（从部署启动，交办等待确认）", imported)
    with transaction(url) as session:  # the code her 【交办确认】 email carries
        person = session.scalars(select(Person).where(Person.name == "陈静")).one()
        anchor = confirm.batch(session, item_codes)[0]
        session.execute(ActionCode.__table__.delete().where(ActionCode.person_id == person.id))
        code = codes.reveal_one(session, codes.issue(session, person, anchor, confirm.STEP))
    form = {"items": item_codes, "secretary": "陈静", "code": code}
    reason, refused = step(
        "交办确认（一次签署全部交办）", lambda: confirm.apply(url, item_codes, form, day, "bench:confirm-0")
    )
    if reason or refused:
        raise SystemExit(f"交办确认未被受理：{reason or refused}")

    def pending():
        with transaction(url) as session:
            return pending_runs(session, item_codes, None, day)

    runs = step("交办确认后每项的首个等待（pending_runs）", pending)
    print(f"待建流程运行 {len(runs)} 个；首个等待：{Counter(r['wait']['key'] for r in runs)}")


if __name__ == "__main__":
    main()
