"""Helpers for tests that start real processes (prefect server, rectify up / serve): a free
loopback port, and waits bounded by a condition (with a generous ceiling for a busy machine,
never a fixed sleep)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stop(AssertionError):
    """Raised by a `wait_for` check for what no amount of waiting mends (a run crashed, an
    input refused): the wait fails at once with it instead of at its ceiling."""


def wait_for(what: str, check, timeout: float = 180, every: float = 0.5):
    """Poll `check` until it returns something true; the ceiling only turns a hang into a
    failure, it is not a speed bar (a loaded machine may take many times the idle figure)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Stop:
            raise
        except Exception as exc:  # not up yet: keep polling until the deadline
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def pids_with(*words: str) -> list[int]:
    """Processes whose command line holds every word (the way to find a grandchild)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if all(w in args for w in words) and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def checked_calls(client, patience: float):
    """`call(method, url, expect=(200, 201), **kw)` on an httpx client: every status checked
    (the body printed when it is wrong); a server busy on a shared machine answers 503/429 for
    a while, which is waited out for at most `patience` seconds."""

    def call(method: str, url: str, expect: tuple[int, ...] = (200, 201), **kw):
        deadline = time.monotonic() + patience
        while True:
            r = client.request(method, url, **kw)
            if r.status_code not in (429, 503) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert r.status_code in expect, f"{method} {url} -> {r.status_code}: {r.text}"
        return r

    return call
