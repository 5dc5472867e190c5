"""Benchmark: `rectify list` and `rectify show` on a 10,000-item ledger, wall clock per command.

    .venv/bin/python bench/bench_cli.py [--n 10000] [--repeat 3]

Builds a SQLite ledger by bulk INSERTs in a temporary directory, then runs the real console
script as a person would. Prints the best time of each command, its ratio to the start-up floor
(`python -c pass`) and to the 0.3 s budget (issue #13: read commands start fast), then where
the time of one `rectify show` goes: Python start-up, imports by top-level package (from
`python -X importtime`), and the rest (the query and printing). Beside each wall-clock figure:
the command's CPU time (user + system), which a loaded machine inflates far less.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

BUDGET = 0.3  # seconds, whole process
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
        env = {
            **os.environ,
            "RECTIFY_DATABASE_URL": url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        baseline = [sys.executable, "-c", "pass"]
        floor = None
        for label, cmd in [("python -c pass (start-up floor)", baseline)] + [
            (" ".join(["rectify", *c]), [str(rectify), *c]) for c in COMMANDS
        ]:
            times, cpu = [], []
            for _ in range(args.repeat):
                before = _children_cpu()
                start = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
                cpu.append(_children_cpu() - before)
            best = min(times)
            floor = floor or best  # the first line is the floor itself
            print(
                f"{label:44s} {best:6.3f} s  {best / floor:5.1f}× python -c pass  "
                f"{best / BUDGET:5.2f}× budget  (CPU {min(cpu):.3f} s)"
            )
        print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        print_import_shares(rectify, env, tmp)


def _children_cpu() -> float:
    """User + system CPU of finished children: on a busy machine the wall clock also counts the
    time spent waiting for a core, this does not."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_import_shares(rectify: Path, env: dict, cwd: str) -> None:
    """Import time of one `rectify show` by top-level package (self time summed, so shared
    dependencies are counted once, under the package that owns the module)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(rectify), "show", "ZG-05000"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    shares: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        shares[package] = shares.get(package, 0) + int(self_us)
    total = sum(shares.values())
    print(f"imports of one `rectify show`: {total / 1e6:.3f} s, by package:")
    for package, us in sorted(shares.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {package:28s} {us / 1e6:6.3f} s")


if __name__ == "__main__":
    main()
