"""`kill -9` of a real `rectify remind` at several points of its delivery, then a rerun on the
same day (after the lease) or on the next day; after each, the fault server's log of accepted
Message-IDs is held against the outbox: nothing lost, nothing twice outside the stated bound
(a message whose 250 came within rectify.delivery's commit window before the kill, or whose
250 the killed process never read, may be accepted once more on the same day)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from fault_smtp import FaultHandler, assert_kept, fault_server
from models import OutboxMail
from models.db import session_factory
from ledger_helpers import RECTIFY, env_for
from delivery_helpers import time_passes
from reminder_helpers import item, people

pytestmark = pytest.mark.flow
DAY, NEXT = date(2026, 11, 30), date(2026, 12, 1)
OWNERS = 11  # 11 owners' digests and their leader's: 12 emails on DAY
# The stated bound: an outcome is committed within notifications.smtp.TICK (0.2 s) plus one
# commit after the 250; a generous half second for the commit on a loaded machine.
WINDOW = 0.7


def ledger(url: str) -> None:
    from models import Person, Role

    with session_factory(url).begin() as s:
        p = people(s)
        for i in range(OWNERS):
            owner = Person(name=f"责任人{i}", email=f"o{i}@example.gov.cn", role=Role.owner)
            s.add(owner)
            s.flush()
            item(s, f"K-{i}", owner, p["周建国"], date(2026, 11, 20))


def remind(tmp_path, url, server, day: date, api: dict) -> subprocess.Popen:
    env = env_for(
        url,
        RECTIFY_TODAY=day.isoformat(),
        RECTIFY_SMTP_HOST=server.hostname,
        RECTIFY_SMTP_PORT=str(server.port),
        RECTIFY_SMTP_CONNECTIONS="1",
        RECTIFY_SMTP_TIMEOUT="60",
        RECTIFY_OUTBOX_DIR=str(tmp_path / "eml"),
        **api,
    )
    return subprocess.Popen(
        [str(RECTIFY), "remind", "--today", day.isoformat()],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sent(maker) -> int:
    with maker() as s:
        return len(s.scalars(select(OutboxMail).where(OutboxMail.status == "sent")).all())


# Where the process dies, as a server-side trigger. Each returns (setup kwargs, after-kill check).
def before_any_reply(proc_box, hold):
    """The first message is complete at the server, its 250 not yet written."""
    hold.clear()
    return dict(on_received=lambda h, m: proc_box[0].kill() if len(h.received) == 1 else None)


def mid_batch_slow_server(proc_box, hold):
    """Four accepted, the fifth reply withheld (a slow server): killed only once the four are
    recorded, which the commit window promises without a fifth reply arriving."""

    def on_received(h, m):
        if len(h.received) == 5:
            hold.clear()

    return dict(on_received=on_received)


def right_after_a_250(proc_box, hold):
    """Killed a moment after the third 250 went out: inside the commit window."""

    def kill():
        proc_box.append(time.monotonic())
        proc_box[0].kill()

    def on_replied(h, m):
        if len(h.accepted) == 3:
            threading.Timer(0.05, kill).start()

    return dict(on_replied=on_replied)


POINTS = {
    "before any reply": before_any_reply,
    "mid batch, slow server": mid_batch_slow_server,
    "right after a 250": right_after_a_250,
}


@pytest.mark.parametrize("rerun", ["same day", "next day"])
@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_rerun_loses_nothing_and_sends_nothing_twice(tmp_path, sqlite_url, api_env, point, rerun):
    ledger(sqlite_url)
    maker = session_factory(sqlite_url)
    hold = threading.Event()
    hold.set()
    proc_box: list[subprocess.Popen] = []
    handler = FaultHandler(hold=hold, **POINTS[point](proc_box, hold))
    with fault_server(handler) as server:
        proc_box.append(remind(tmp_path, sqlite_url, server, DAY, api_env))
        if point == "mid batch, slow server":
            handler.wait_for(lambda: len(handler.accepted) == 4 and not hold.is_set(), 120)
            handler.wait_for(lambda: sent(maker) == 4, 20)  # recorded while the server stalls
            proc_box[0].kill()
        proc = proc_box[0]
        proc.wait(120)
        assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
        accepted_before = handler.accepted_ids()
        # what the killed process may not have recorded: replies it never read or that came
        # within the commit window before the kill
        allowed = {m.message_id for m in handler.received if m.message_id not in accepted_before}
        if point == "right after a 250":
            killed_at = proc_box[1]
            allowed |= {m.message_id for m in handler.accepted if m.at > killed_at - WINDOW}
        if point == "mid batch, slow server":  # recorded before the kill, not by the rerun
            assert_kept(maker, handler)
        hold.set()
        time_passes(maker, timedelta(minutes=20))  # past the 15-minute lease
        day = DAY if rerun == "same day" else NEXT
        again = remind(tmp_path, sqlite_url, server, day, api_env)
        out, _ = again.communicate(timeout=120)
        assert again.returncode == 0, out
        audit = assert_kept(maker, handler, allowed_twice=allowed)
    with maker() as s:
        rows = s.scalars(select(OutboxMail).where(OutboxMail.day == DAY)).all()
    if rerun == "same day":
        assert {r.status for r in rows} == {"sent"} and len(rows) == OWNERS + 1
        assert audit.accepted == OWNERS + 1
    else:  # yesterday's digests: sent, unknown (claimed when the process died) or expired
        assert {r.status for r in rows} <= {"sent", "unknown", "expired"}
        assert all(r.status != "expired" or r.message_id not in accepted_before for r in rows)
        unknown = [r for r in rows if r.status == "unknown"]
        assert all("进程意外退出" in r.last_error for r in unknown)
        with maker() as s:  # the secretary is told about them
            notices = s.scalars(select(OutboxMail).where(OutboxMail.kind == "delivery_failed")).all()
        assert bool(notices) == bool(unknown)
