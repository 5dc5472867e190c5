"""Benchmark: `rectify list` and `rectify show` on a 10,000-item ledger, wall clock per command.

    .venv/bin/python bench/bench_cli.py [--n 10000] [--repeat 3]

Builds a SQLite ledger by bulk INSERTs in a temporary directory, then runs the real console
script as a person would. Prints the best time of each command and its ratio to the one-second
budget (the issue: "answer in well under a second on a ledger of 10,000 items").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

BUDGET = 1.0
COMMANDS = [
    ["list", "--today", "2026-11-30"],
    ["list", "--json", "--today", "2026-11-30"],
    ["list", "--overdue", "--today", "2026-11-30"],
    ["list", "--owner", "干部050"],
    ["show", "ZG-05000"],
    ["show", "ZG-05000", "--json"],
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from ledger_helpers import build_big_ledger
    from rectify.schema import upgrade

    rectify = Path(sys.executable).parent / "rectify"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        upgrade(url)
        start = time.perf_counter()
        build_big_ledger(url, args.n)
        print(f"ledger: {args.n} items built in {time.perf_counter() - start:.2f} s")
        env = {**os.environ, "RECTIFY_DATABASE_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "DO_NOT_TRACK": "1"}
        baseline = [sys.executable, "-c", "pass"]
        for label, cmd in [("python -c pass (start-up floor)", baseline)] + [
                (" ".join(["rectify", *c]), [str(rectify), *c]) for c in COMMANDS]:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
            best = min(times)
            print(f"{label:48s} {best:6.3f} s   {best / BUDGET:5.2f}× budget")


if __name__ == "__main__":
    main()
