"""A full `deadline-watch` sweep over a big ledger: time, emails, and Prefect task runs used.

    .venv/bin/python bench/bench_sweep.py [--items 100000 --due 5000] [--also 10000:500]
                                          [--extras report-eve|typical|none]

Bulk-inserts the ledger into a temporary SQLite file (5,000 owners holding 20 items each, 100
leaders, one secretary), runs the real flow in a temporary Prefect server (`prefect_test_harness`)
with the outbox written as .eml files, and counts the flow run's task runs through the Prefect
client. The task-run count must be the same at every size: the sweep works on sets, never one
task per item.

定期报送 and 回头看 (--extras): `report-eve` (default, the heaviest day) sets
RECTIFY_REPORTING=monthly:1, making the sweep day the eve of a reporting due day (Tue 1 Dec):
every item but the due ones has a progress note in the period, so the anti-join runs over all
open items, and the `due` items owe a note (a second section in each of their owners' digests).
`typical` keeps the default monthly:5 (30 Nov is no reporting reminder day). Both add due/10
closed items whose 复核日期 is the sweep day. `none`: reporting off, no closed items.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DAY = date(2026, 11, 30)
FAR = date(2027, 6, 30)
# Deadlines that reach a rung on 30 Nov 2026: due in 5 / 1 working days, due today, overdue
# 1, 3 (leader) and 11 (secretary) working days.
DUE = [date(2026, 12, 7), date(2026, 12, 1), DAY, date(2026, 11, 27), date(2026, 11, 25), date(2026, 11, 13)]


def build(url: str, n_items: int, n_due: int, extras: bool = True) -> None:
    """The ledger; with extras, the progress notes and the closed items due for 回头看."""
    from sqlalchemy import insert

    from models import Item, Measure, Person, ProgressNote
    from models.db import get_engine
    from rectify.schema import upgrade

    upgrade(url)
    n_owners = max(1, n_items // 20)
    people = [
        {
            "id": 1,
            "name": "陈静",
            "title": "",
            "department": "办公室",
            "email": "chenjing@example.gov.cn",
            "role": "secretary",
        }
    ]
    people += [
        {
            "id": 2 + i,
            "name": f"领导{i}",
            "title": "",
            "department": "局领导",
            "email": f"leader{i}@example.gov.cn",
            "role": "leader",
        }
        for i in range(100)
    ]
    people += [
        {
            "id": 102 + i,
            "name": f"责任人{i}",
            "title": "",
            "department": f"科室{i % 30}",
            "email": f"owner{i}@example.gov.cn",
            "role": "owner",
        }
        for i in range(n_owners)
    ]
    step = max(1, n_items // n_due)
    items, measures = [], []
    for i in range(n_items):
        due = DUE[(i // step) % len(DUE)] if i % step == 0 and i // step < n_due else FAR
        items.append(
            {
                "id": i + 1,
                "code": f"ZG-{i:06d}",
                "source": "对照检查",
                "category": "班子问题",
                "description": f"第{i}个问题的描述",
                "department": "办公室",
                "remark": "",
                "status": "in_progress",
                "owner_id": 102 + (i // 20) % n_owners,
                "leader_id": 2 + (i // 20) % 100,
                "deadline": due,
                "register_date": date(2026, 11, 2),
                "deadline_changed_on": date(2026, 11, 2),
                "closed_on": None,
                "recheck_on": None,
            }
        )
        measures.append(
            {
                "item_id": i + 1,
                "position": 0,
                "text": "整改措施",
                "deadline": due,
                "deadline_text": due.isoformat(),
            }
        )
    notes = []
    if extras:
        notes = [
            {"item_id": it["id"], "author_id": it["owner_id"], "day": date(2026, 11, 20), "note": "本期进展"}
            for i, it in enumerate(items)
            if not (i % step == 0 and i // step < n_due)
        ]
        for k in range(n_due // 10):  # closed, 复核日期 reached on the sweep day
            items.append(
                {
                    **items[k],
                    "id": n_items + k + 1,
                    "code": f"HT-{k:06d}",
                    "status": "closed",
                    "closed_on": date(2026, 8, 31),
                    "recheck_on": DAY,
                }
            )
            measures.append({**measures[k], "item_id": n_items + k + 1})
    with get_engine(url).begin() as conn:
        conn.execute(insert(Person), people)
        for start in range(0, len(items), 20_000):
            conn.execute(insert(Item), items[start : start + 20_000])
            conn.execute(insert(Measure), measures[start : start + 20_000])
        for start in range(0, len(notes), 20_000):
            conn.execute(insert(ProgressNote), notes[start : start + 20_000])


REPORTING = {"report-eve": "monthly:1", "typical": "monthly:5", "none": "off"}


def sweep(n_items: int, n_due: int, extras: str = "report-eve") -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    from flows.deadline_watch import deadline_watch
    from rectify.settings import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        t0 = time.perf_counter()
        build(url, n_items, n_due, extras != "none")
        built = time.perf_counter() - t0
        os.environ.update(
            RECTIFY_DATABASE_URL=url, RECTIFY_OUTBOX_DIR=f"{tmp}/outbox", RECTIFY_REPORTING=REPORTING[extras]
        )
        os.environ.pop("RECTIFY_SMTP_HOST", None)
        get_settings.cache_clear()
        t0, c0 = time.perf_counter(), time.process_time()
        state = deadline_watch(day=DAY, return_state=True)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        result = state.result()
        with get_client(sync_client=True) as client:
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
            )
        emls = len(list(Path(tmp, "outbox").glob("*.eml")))
    return {
        "items": n_items,
        "due": n_due,
        "build_s": built,
        "sweep_s": elapsed,
        "cpu_s": cpu,
        "emails": result["delivery"]["sent"],
        "lines": result["lines"],
        "eml_files": emls,
        "task_runs": len(task_runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=5_000)
    parser.add_argument("--also", default="10000:500", help="a smaller size to compare, items:due")
    parser.add_argument(
        "--extras",
        choices=list(REPORTING),
        default="report-eve",
        help="定期报送 and 回头看 load (see the module docstring)",
    )
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in args.also.split(":"))] if args.also else []
    sizes.append((args.items, args.due))

    from prefect.testing.utilities import prefect_test_harness

    rows = []
    with prefect_test_harness(server_startup_timeout=120):
        for n_items, n_due in sizes:
            rows.append(sweep(n_items, n_due, args.extras))
    # cpu s: this process's CPU time during the sweep (planning, rendering, writing the outbox;
    # the Prefect server runs in its own process): steadier than wall time on a shared machine.
    print(
        f"{'items':>8} {'due':>6} {'reminders':>9} {'emails':>7} {'sweep s':>8} {'cpu s':>6} {'task runs':>9}"
    )
    for r in rows:
        print(
            f"{r['items']:>8} {r['due']:>6} {r['lines']:>9} {r['emails']:>7} {r['sweep_s']:>8.1f} {r['cpu_s']:>6.1f} "
            f"{r['task_runs']:>9}"
        )
    counts = {r["task_runs"] for r in rows}
    print(
        "Prefect task runs per sweep: "
        + ("constant" if len(counts) == 1 else "GROWS with items!")
        + f" ({', '.join(str(r['task_runs']) for r in rows)})"
    )


if __name__ == "__main__":
    main()
