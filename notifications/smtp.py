"""Deliver prepared messages over SMTP (or into an .eml outbox) and report each outcome.

The outcomes (sent, retry, failed, unknown) and why ``unknown`` is never resent are
notifications/outcomes.py's; the server settings are notifications/mail_config.py's; the
.eml outbox is notifications/eml_files.py's. This module drives the SMTP conversation.

aiosmtplib's ``send_message``/``data`` hide which half of DATA failed, so the transaction
is driven step by step: MAIL, RCPT…, the DATA command (wait for 354), then the payload and
its own reply. Only a failure in that last step can be ``unknown``.

A connection is opened once per worker and reused for all its messages; at most
``config.connections`` workers share the batch. Refusals of the connection itself (refused
or dropped connect, a 4xx/5xx greeting, STARTTLS, the login) are the server's state, not a
message's: the worker gives its message back to the queue and stops, the workers that did
connect deliver the rest, and only when no worker can connect are the messages left
returned as ``retry`` with ``attempts=0`` (never ``failed``). The first such reply is kept
in ``Batch.refusal`` so the caller can tell the secretary once.

An optional guard (rectify.delivery's marker) is ticked every ``TICK`` seconds while the
batch runs, so buffered outcomes are committed and the lease renewed even while the server
is slow, and is asked before each message whether it may still be sent.

The names callers use (MailConfig, mail_config, config_from_block, OutgoingMail,
DeliveryResult, BatchOutcome, deliver, TICK) stay importable from here.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from email.utils import parseaddr
from typing import Callable

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from notifications.eml_files import write_outbox
from notifications.mail_config import MailConfig, config_from_block, mail_config, tls_context
from notifications.outcomes import (
    BatchOutcome,
    DeliveryResult,
    Failure,
    Guard,
    OutgoingMail,
    Refused,
    Status,
    classify,
    one_line,
)
from notifications.wire import wire_payload

__all__ = [
    "TICK",
    "BatchOutcome",
    "DeliveryResult",
    "Guard",
    "MailConfig",
    "OutgoingMail",
    "Status",
    "config_from_block",
    "deliver",
    "mail_config",
]

log = logging.getLogger(__name__)

TICK = 0.2  # seconds between guard ticks: the bound on an outcome waiting in a buffer


async def deliver(
    mails: list[OutgoingMail],
    config: MailConfig,
    *,
    on_result: Callable[[DeliveryResult], None] | None = None,
    max_attempts: int = 3,
    backoff: float = 0.5,
    guard: Guard | None = None,
) -> BatchOutcome:
    """Deliver every mail; results come back in input order (None for a mail the guard
    withdrew), and through on_result as known.

    An exception raised by on_result or the guard stops the batch and propagates (a result
    the sweep could not record must not be silently dropped).
    """
    batch = _Batch(mails, config, on_result, max(1, max_attempts), backoff, guard)
    if not mails:
        return batch.results
    if config.host is None:
        batch.write_outbox()
        return batch.results
    workers = max(1, min(config.connections, len(mails)))
    batch.live = workers
    done = asyncio.Event()

    async def run_workers() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(batch.worker())
        finally:
            done.set()

    async with asyncio.TaskGroup() as group:
        group.create_task(run_workers())
        if guard is not None:
            group.create_task(_ticker(guard, done))
    return batch.results


async def _ticker(guard: Guard, done: asyncio.Event) -> None:
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), TICK)
        except TimeoutError:
            guard.tick()


class _Batch:
    def __init__(self, mails, config, on_result, max_attempts, backoff, guard=None):
        self.config, self.on_result, self.guard = config, on_result, guard
        self.max_attempts, self.backoff = max_attempts, backoff
        self.pending = deque((index, mail, 0) for index, mail in enumerate(mails))
        self.results = BatchOutcome([None] * len(mails))
        self.sender = parseaddr(config.mail_from)[1]
        if config.host and "@" not in self.sender:
            raise ValueError(f"发件人地址配置无效：{config.mail_from!r}")
        self.tls = tls_context(config) if config.host else None
        self.live = 0  # workers that have not given up connecting
        if config.host and config.username and config.security == "none":
            log.warning("正在未加密的连接上登录邮件服务器 %s，密码可能被截获", config.host)

    def emit(self, index: int, result: DeliveryResult, quiet: bool = False) -> None:
        self.results[index] = result
        if result.status != "sent" and not quiet:
            log.warning("邮件 %s 未送达（%s）：%s", result.key, result.status, result.error)
        if self.on_result is not None:
            self.on_result(result)

    # --- outbox mode -------------------------------------------------------------------
    def write_outbox(self, group: int = 500) -> None:
        """Every pending mail as an .eml file (notifications/eml_files.py)."""
        pending = [(index, mail) for index, mail, _ in self.pending]
        self.pending.clear()
        write_outbox(str(self.config.outbox_dir), pending, self.emit, group)

    # --- SMTP mode ---------------------------------------------------------------------
    async def worker(self) -> None:
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            timeout=c.timeout,
            use_tls=c.security == "tls",
            start_tls=c.security == "starttls",
            tls_context=self.tls,
        )
        try:
            while self.pending:
                index, mail, tried = self.pending.popleft()
                if self.guard is not None and not self.guard.may_send(mail.key):
                    self.results.skipped += 1
                    continue
                if not smtp.is_connected:
                    refusal = await self.open(smtp)
                    if refusal is not None:
                        self.pending.appendleft((index, mail, tried))
                        self.retire(refusal)
                        return
                try:
                    result, tried = await self.send(smtp, mail, tried)
                except Refused as refusal:
                    smtp.close()
                    self.pending.appendleft((index, mail, tried))
                    self.retire(str(refusal))
                    return
                if result is None:  # the connection went away between attempts: reconnect
                    self.pending.appendleft((index, mail, tried))
                else:
                    self.emit(index, result)
            self.live -= 1  # done: a worker that retires later must not count on this one
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit(timeout=min(c.timeout, 5.0))
                except Exception:  # the batch is done; a failing QUIT changes nothing
                    smtp.close()

    def retire(self, refusal: str) -> None:
        """This worker cannot connect: the others carry on; the last one returns the rest."""
        self.live -= 1
        if self.results.refusal is None:
            self.results.refusal = refusal
        if self.live > 0:
            return
        log.warning("邮件服务器拒绝连接或登录，%d封邮件留待重试：%s", len(self.pending), refusal)
        while self.pending:
            index, mail, tried = self.pending.popleft()
            self.emit(index, DeliveryResult(mail.key, "retry", f"未能投递：{refusal}", tried), quiet=True)

    async def open(self, smtp: aiosmtplib.SMTP) -> str | None:
        """Connect (and log in); None when connected, else the server's refusal as one line.
        Only the last worker still trying waits and tries again: while another connection
        works, hammering a server that limits connections helps nobody."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                await smtp.connect()
                if self.config.username:
                    password = self.config.password
                    await smtp.login(self.config.username, password.get_secret_value() if password else "")
                return None
            except Exception as exc:
                smtp.close()
                refusal = f"连接或登录邮件服务器失败：{classify(exc, data_sent=False).error}"
            if self.live > 1 or attempt == self.max_attempts:
                return refusal
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return refusal

    async def send(
        self, smtp: aiosmtplib.SMTP, mail: OutgoingMail, tried: int
    ) -> tuple[DeliveryResult | None, int]:
        """One message over an open connection, retrying transient failures; (None, tried)
        when the connection was lost and must be reopened first."""
        try:
            rcpts, payload = wire_payload(mail.message)
        except Exception as exc:
            return DeliveryResult(mail.key, "failed", f"邮件无法编码：{one_line(exc)}", 0), tried
        while True:
            if not smtp.is_connected:
                return None, tried
            tried += 1
            try:
                refused = await self.transaction(smtp, rcpts, payload)
            except Failure as failure:
                if failure.status == "retry" and tried < self.max_attempts:
                    await asyncio.sleep(self.backoff * 2 ** (tried - 1))
                    continue
                return DeliveryResult(mail.key, failure.status, failure.error, tried), tried
            error = None
            if refused:
                error = "部分收件人被拒收：" + "；".join(
                    f"{r.recipient}（{r.code} {one_line(r.message)}）" for r in refused
                )
                log.warning("邮件 %s 已发出，%s", mail.key, error)
            return DeliveryResult(mail.key, "sent", error, tried), tried

    async def transaction(self, smtp, rcpts: list[str], payload: bytes) -> list:
        data_sent = False
        try:
            try:
                await smtp.mail(self.sender)
            except SMTPResponseException as exc:
                if exc.code == 530:
                    raise Refused(
                        f"连接或登录邮件服务器失败：{classify(exc, data_sent=False).error}"
                    ) from exc
                raise
            refused = []
            for rcpt in rcpts:
                try:
                    await smtp.rcpt(rcpt)
                except SMTPRecipientRefused as exc:
                    refused.append(exc)
            if len(refused) == len(rcpts):
                raise SMTPRecipientsRefused(refused)
            reply = await smtp.execute_command(b"DATA")
            if reply.code != 354:
                raise SMTPDataError(reply.code, reply.message)
            protocol = smtp.protocol
            if protocol is None:
                raise SMTPServerDisconnected("Connection lost")
            protocol.write(payload)
            data_sent = True  # from here on the server may hold the complete message
            try:
                reply = await protocol.read_response(timeout=self.config.timeout)
            except (SMTPServerDisconnected, SMTPTimeoutError):
                smtp.close()  # the connection is out of step with the server now
                raise
            if reply.code != 250:
                raise SMTPDataError(reply.code, reply.message)
            return refused
        except Refused:
            raise
        except Exception as exc:
            failure = classify(exc, data_sent=data_sent)
            if not data_sent and smtp.is_connected:
                await _reset(smtp)
            raise failure from exc


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    """Clear a refused envelope so the connection can carry the next message."""
    try:
        await smtp.rset()
    except Exception:
        smtp.close()
