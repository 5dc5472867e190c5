"""Benchmark: the project's `deliver` against bare aiosmtplib and per-message prefect-email tasks.

    .venv/bin/python bench/bench_mail.py [--n 2000] [--alt-n 200] [--repeat 3]

A sink SMTP server (aiosmtpd, accepts and discards) runs in its own process on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import email.policy
import multiprocessing
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HOST = "127.0.0.1"


def _sink(port: int, ready) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Sink(), hostname=HOST, port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _messages(n: int):
    from notifications.compose import Recipient, build_message, render

    out = []
    for i in range(n):
        items = [
            dict(
                code=f"ZG-2026-{i:04d}",
                description="会议室长期被占用，群众反映强烈",
                department="办公室",
                owner=f"责任人{i}",
                leader="李四",
                deadline="2026-12-31",
                days_left=5,
                days_overdue=0,
                measures=[{"text": "建立预约制度", "deadline": "2026-11-30"}],
            ),
        ]
        subject, text, html = render(
            "due_soon", recipient=f"责任人{i}", day=dt.date(2026, 12, 24), items=items
        )
        msg = build_message(
            sender="整改台账 <rectify@localhost>",
            to=[Recipient(f"责任人{i}", f"owner{i}@example.org")],
            subject=subject,
            text=text,
            html=html,
            message_id=f"<bench-{i}@rectify>",
        )
        out.append((f"{i}", msg, subject, text, html))
    return out


async def _project(port: int, msgs, connections: int = 3) -> float:
    from notifications.smtp import MailConfig, OutgoingMail, deliver

    mails = [OutgoingMail(key, msg) for key, msg, *_ in msgs]
    config = MailConfig(host=HOST, port=port, timeout=30.0, connections=connections)
    start = time.perf_counter()
    results = await deliver(mails, config)
    elapsed = time.perf_counter() - start
    assert all(r.status == "sent" for r in results), {r.status for r in results}
    return elapsed


async def _floor(port: int, prebuilt) -> float:
    import aiosmtplib

    start = time.perf_counter()
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=False, timeout=30.0)
    await smtp.connect()
    for sender, rcpts, raw in prebuilt:
        await smtp.sendmail(sender, rcpts, raw)
    await smtp.quit()
    return time.perf_counter() - start


def _alternative(port: int, msgs) -> tuple[float, int]:
    """One prefect-email `email_send_message` task per message, awaited in an async flow."""
    from prefect import flow
    from prefect_email import EmailServerCredentials, email_send_message

    creds = EmailServerCredentials(smtp_server=HOST, smtp_port=port, smtp_type="INSECURE")

    batch: list = []  # a closure, not a flow parameter: parameters are stored by the API

    @flow(name="bench-prefect-email", log_prints=False)
    async def send_all():
        for _key, _msg, subject, text, html in batch:
            await email_send_message(
                email_server_credentials=creds,
                subject=subject,
                msg=html,
                msg_plain=text,
                email_from="rectify@localhost",
                email_to=["owner@example.org"],
            )

    async def timed() -> float:
        batch[:] = msgs[:2]
        await send_all()  # warm-up: starts the ephemeral API server
        batch[:] = msgs
        start = time.perf_counter()
        await send_all()
        return time.perf_counter() - start

    return asyncio.run(timed()), len(msgs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--alt-n", type=int, default=200, help="messages for the prefect-email run")
    parser.add_argument(
        "--repeat", type=int, default=5, help="interleaved runs of project and floor (medians reported)"
    )
    args = parser.parse_args()

    # Prefect alternative: ephemeral API in a throw-away home, no telemetry.
    home = tempfile.mkdtemp(prefix="bench-prefect-")
    # Registered before prefect is imported, so it runs after prefect's own exit handlers.
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ.update(
        PREFECT_HOME=home,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true",
        PREFECT_LOGGING_LEVEL="WARNING",
        # the ephemeral API subprocess logs cancelled background flushes on shutdown
        PREFECT_SERVER_LOGGING_LEVEL="CRITICAL",
    )
    os.environ.pop("PREFECT_API_URL", None)

    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    sink = ctx.Process(target=_sink, args=(port, ready), daemon=True)
    sink.start()
    try:
        if not ready.wait(30):
            raise SystemExit("sink server did not start")
        msgs = _messages(args.n)
        prebuilt = [
            (
                "rectify@localhost",
                [a.addr_spec for a in m["To"].addresses],
                m.as_bytes(policy=email.policy.SMTP),
            )
            for _, m, *_ in msgs
        ]
        project, floor, single = [], [], []
        for _ in range(args.repeat):
            project.append(asyncio.run(_project(port, msgs)))
            floor.append(asyncio.run(_floor(port, prebuilt)))
            single.append(asyncio.run(_project(port, msgs, connections=1)))
        p, f, p1 = (statistics.median(x) for x in (project, floor, single))
        # Runs are interleaved and compared pairwise, so load from other processes on the
        # machine shifts both sides of a ratio alike.
        ratio = statistics.median(a / b for a, b in zip(project, floor))
        ratio1 = statistics.median(a / b for a, b in zip(single, floor))
        alt_n = min(args.alt_n, args.n)
        alt_total, alt_count = _alternative(port, msgs[:alt_n])
        alt_scaled = alt_total / alt_count * args.n

        print(
            f"messages: {args.n}; sink: aiosmtpd in its own process on {HOST}:{port}; cpus: {os.cpu_count()}"
        )
        print(
            f"(1) project deliver, connections=3 : {p:7.3f} s  ({p / args.n * 1e3:.3f} ms/msg)"
            f"  runs: {', '.join(f'{x:.3f}' for x in project)}"
        )
        print(
            f"(2) floor, bare aiosmtplib 1 conn  : {f:7.3f} s  ({f / args.n * 1e3:.3f} ms/msg)"
            f"  runs: {', '.join(f'{x:.3f}' for x in floor)}"
        )
        print(
            f"    same, connections=1 (overhead) : {p1:7.3f} s  ({p1 / args.n * 1e3:.3f} ms/msg)"
            f"  runs: {', '.join(f'{x:.3f}' for x in single)}"
        )
        scaled = "" if alt_count == args.n else f", measured on {alt_count} messages and scaled to {args.n}"
        print(
            f"(3) prefect-email task per message : {alt_scaled:7.3f} s  ({alt_total / alt_count * 1e3:.3f} ms/msg{scaled})"
        )
        print(
            f"project / floor       = {ratio:5.2f}x  (median of paired runs; target <= 1.25x) {'OK' if ratio <= 1.25 else 'MISSED'}"
        )
        print(
            f"project(1 conn) / floor = {ratio1:5.2f}x  (serialising the messages included; the floor sends ready bytes)"
        )
        print(
            f"alternative / project = {alt_scaled / p:5.1f}x  (target >= 5x) {'OK' if alt_scaled / p >= 5 else 'MISSED'}"
        )
    finally:
        sink.terminate()
        sink.join(5)


if __name__ == "__main__":
    main()
