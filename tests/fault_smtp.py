"""A fault-injecting aiosmtpd server and the audit that holds delivery to its promises.

FaultHandler scripts what a misbehaving mail server does, per connection and per command:

* ``greeting``: a script of actions for the greeting of each new connection, in order (a
  reply such as "554 5.7.1 go away" is sent instead of 220 and the connection closed; None
  greets normally); ``per_client``: at most this many connections open at once from one
  client address, further ones get ``limit_reply`` as their greeting;
* ``starttls``: a script of replies to STARTTLS (a refusal such as "454 4.7.0 TLS not
  available"); the AUTH refusal comes from aiosmtpd's authenticator (smtp_servers);
* ``mail`` / ``rcpt`` / ``data``: scripts as in smtp_servers.ScriptedHandler (a reply, DROP or
  Stall) for MAIL, RCPT and the end of the message data (``data`` runs after the message was
  received: DROP there is a drop *after* DATA, DROP on MAIL/RCPT one *before* it);
* ``pace``: seconds to wait before each 250 reply to the data (a slow server), and ``hold``:
  an Event; while it is clear every reply to the data waits (a server that has the message and
  has not answered yet);
* ``on_received`` / ``on_replied``: callbacks (handler, Accepted) at the moment the message is
  complete and at the moment its 250 goes out, e.g. to kill the client at that point.

Every message is logged by Message-ID in ``received`` (complete data arrived) and, once the
250 was written, in ``accepted`` (the server took responsibility, RFC 5321 §4.1.1.4).

``audit`` compares what the server accepted with the outbox: zero lost (every accepted
message is recorded sent or unknown) and zero twice (no Message-ID accepted twice) except
those named as allowed by the bound the delivery code states.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import select

from smtp_servers import DROP, HOST, ScriptedHandler, free_port

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.I | re.M)


@dataclass
class Accepted:
    message_id: str
    rcpt_tos: list[str]
    peer: tuple
    at: float  # time.monotonic()


@dataclass
class FaultHandler:
    greeting: Iterable = ()
    per_client: int | None = None
    limit_reply: str = "421 4.7.0 Too many connections from your host"
    starttls: Iterable = ()
    mail: Iterable = ()
    rcpt: Iterable = ()
    data: Iterable = ()
    pace: float = 0.0
    hold: threading.Event | None = None
    on_received: Callable | None = None
    on_replied: Callable | None = None
    received: list[Accepted] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    connections: int = 0  # connections opened, refused ones included
    refused: int = 0  # connections refused at the greeting
    open: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    armed: bool = False  # False while the Controller checks that it is up (its own connection)

    def __post_init__(self):
        self.scripts = {name: iter(getattr(self, name)) for name in ("greeting", "starttls")}
        self.scripts.update(MAIL=iter(self.mail), RCPT=iter(self.rcpt), DATA=iter(self.data))
        self.calls = {"MAIL": 0, "RCPT": 0, "DATA": 0}

    def next(self, script: str):
        with self.lock:
            return next(self.scripts[script], None)

    # --- bookkeeping ---------------------------------------------------------------------
    def accepted_ids(self) -> Counter:
        return Counter(a.message_id for a in self.accepted)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait for a condition on this handler (or anything else); fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.02)

    # --- SMTP hooks: MAIL and RCPT as ScriptedHandler scripts them -------------------------
    _act = ScriptedHandler._act
    handle_MAIL = ScriptedHandler.handle_MAIL
    handle_RCPT = ScriptedHandler.handle_RCPT

    async def handle_DATA(self, server, session, envelope):
        found = _MESSAGE_ID.search(envelope.original_content or envelope.content)
        message = Accepted(
            found.group(1).decode() if found else "?", list(envelope.rcpt_tos), session.peer, time.monotonic()
        )
        self.received.append(message)
        if self.on_received:
            self.on_received(self, message)
        reply = await self._act(server, "DATA")
        if reply:
            return reply
        if self.pace:
            await asyncio.sleep(self.pace)
        while self.hold is not None and not self.hold.is_set():
            await asyncio.sleep(0.02)
        if server.transport is None or server.transport.is_closing():
            return "421 4.3.0 gone"  # the client went away: nothing was acknowledged
        message.at = time.monotonic()
        self.accepted.append(message)
        if self.on_replied:
            self.on_replied(self, message)
        return "250 2.0.0 OK"


class FaultSMTP(SMTP):
    """aiosmtpd's SMTP with scripted greetings, a per-client connection limit and STARTTLS."""

    async def _handle_client(self) -> None:
        handler: FaultHandler = self.event_handler
        client = self.session.peer[0]
        if not handler.armed:
            await super()._handle_client()
            return
        with handler.lock:
            handler.connections += 1
            handler.open[client] += 1
            self._counted = client
            over = handler.per_client is not None and handler.open[client] > handler.per_client
        reply = handler.limit_reply if over else handler.next("greeting")
        if reply == DROP or reply:
            handler.refused += 1
            if reply != DROP:
                await self.push(reply)
            self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, error) -> None:
        handler: FaultHandler = self.event_handler
        if getattr(self, "_counted", None):
            with handler.lock:
                handler.open[self._counted] -= 1
            self._counted = None
        super().connection_lost(error)

    async def smtp_STARTTLS(self, arg):
        reply = self.event_handler.next("starttls")
        if reply:
            await self.push(reply)
            return
        await super().smtp_STARTTLS(arg)


class FaultController(Controller):
    def factory(self):
        return FaultSMTP(self.handler, **self.SMTP_kwargs)


def fault_server(handler: FaultHandler, **kwargs) -> FaultController:
    """A started FaultController on 127.0.0.1 at a free port (use as a context manager)."""
    return _Running(FaultController(handler, hostname=HOST, port=free_port(), **kwargs))


class _Running:
    def __init__(self, controller):
        self.controller = controller

    def __enter__(self) -> FaultController:
        self.controller.start()
        self.controller.handler.armed = True
        return self.controller

    def __exit__(self, *exc) -> None:
        self.controller.stop()


# --- the audit ------------------------------------------------------------------------------


@dataclass
class Audit:
    accepted: int
    lost: list[str]  # accepted, yet the outbox says it was not (or may not have been) sent
    twice: list[str]  # accepted more than once and not allowed by the stated bound
    statuses: Counter


def audit(maker, handler: FaultHandler, *, allowed_twice: Iterable[str] = ()) -> Audit:
    from models import OutboxMail
    from rectify.delivery import message_id
    from rectify.settings import get_settings

    mail_from = get_settings().mail_from
    with maker() as session:
        rows = {message_id(row, mail_from): row.status for row in session.scalars(select(OutboxMail))}
    counts = handler.accepted_ids()
    lost = sorted(mid for mid in counts if rows.get(mid) not in ("sent", "unknown"))
    twice = sorted(mid for mid, n in counts.items() if n > 1 and mid not in set(allowed_twice))
    return Audit(len(counts), lost, twice, Counter(rows.values()))


def assert_kept(maker, handler: FaultHandler, *, allowed_twice: Iterable[str] = ()) -> Audit:
    result = audit(maker, handler, allowed_twice=allowed_twice)
    assert result.lost == [], f"accepted by the server but not recorded sent/unknown: {result.lost}"
    assert result.twice == [], f"accepted twice outside the stated bound: {result.twice}"
    return result
