"""Deliver prepared messages over SMTP (or into an .eml outbox) and report each outcome.

Outcomes, per message:

* ``sent``    – the server accepted the message (250 after the end-of-data dot), or, in
                outbox mode, the .eml file was written.
* ``retry``   – a transient problem (4xx reply, connection refused/lost or timed out before
                the message data had been sent), or the server refused the connection
                itself (see below). Retried here with exponential backoff up to
                ``max_attempts``; after that the outbox row waits for its next-attempt time
                (rectify.reminders.retry_delay) and a later run tries again.
* ``failed``  – a permanent refusal (5xx reply, every recipient refused with 5xx). Not
                retried: sending the same thing again would get the same answer.
* ``unknown`` – the whole message had been written and we lost the connection or timed out
                while waiting for the reply to the end-of-data dot.

Why ``unknown`` is not resent: RFC 5321 §4.1.1.4 puts the moment of responsibility at the
server's reply to the dot. If that reply never reaches us, the server may well have queued
the message already (RFC 1047 describes exactly this duplicate-message window). A reminder
is recorded as "never sent twice", and a duplicate 催办 to a leader is worse than a late
one, so we stop there; the sweep marks the row for the secretary to check by hand.

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

The password stays a SecretStr until the ``login`` call; it is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Callable, Literal, Protocol

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from pydantic import SecretStr

from notifications.wire import wire_bytes, wire_payload

log = logging.getLogger(__name__)

Status = Literal["sent", "retry", "failed", "unknown"]
_SAFE_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass
class MailConfig:
    host: str | None = None  # None: write .eml files to outbox_dir instead of sending
    port: int | None = None  # None: 25 / 587 / 465 by security
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    connections: int = 3
    mail_from: str = "整改台账 <rectify@localhost>"
    outbox_dir: Path = Path("outbox")
    validate_certs: bool = True
    ca_file: Path | None = None  # extra CA to trust, e.g. an internal or self-signed server


@dataclass
class OutgoingMail:
    key: str
    message: EmailMessage


@dataclass
class DeliveryResult:
    key: str
    status: Status
    error: str | None
    attempts: int


TICK = 0.2  # seconds between guard ticks: the bound on an outcome waiting in a buffer


class Guard(Protocol):
    def tick(self) -> None: ...
    def may_send(self, key: str) -> bool: ...


class BatchOutcome(list):
    """The results in input order, plus what the batch learnt about the server."""

    refusal: str | None = None  # the server refused the connection/greeting/STARTTLS/login
    skipped: int = 0  # not sent because the guard withdrew them (lease lost)


_BLOCK_SECURITY = {"SSL": "tls", "STARTTLS": "starttls", "INSECURE": "none"}


def mail_config(settings) -> MailConfig:
    """Build the config from rectify Settings, or from a prefect-email block if named."""
    config = MailConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security.lower(),
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
        connections=settings.smtp_connections,
        mail_from=settings.mail_from,
        outbox_dir=Path(settings.outbox_dir),
        validate_certs=settings.smtp_validate_certs,
        ca_file=settings.smtp_ca_file,
    )
    if config.security not in ("none", "starttls", "tls"):
        raise ValueError(f"邮件加密方式配置无效：{config.security!r}（应为 none、starttls 或 tls）")
    if settings.email_block:
        # Imported here so that importing notifications never pulls in prefect.
        from prefect_email import EmailServerCredentials

        # _sync=True: a plain block (sync API client) even when called inside an async flow,
        # where load() would otherwise hand back a coroutine.
        block = EmailServerCredentials.load(settings.email_block, _sync=True)
        config = config_from_block(block, config)
    return config


def config_from_block(block, base: MailConfig) -> MailConfig:
    """Take server, port, security and login from an EmailServerCredentials block."""
    server = getattr(block.smtp_server, "value", block.smtp_server)
    smtp_type = block.smtp_type
    password = block.password if block.password and block.password.get_secret_value() else None
    return MailConfig(
        host=str(server),
        port=block.smtp_port or smtp_type.value,  # the enum values are the default ports
        security=_BLOCK_SECURITY[smtp_type.name],
        username=block.username,
        password=password,
        timeout=base.timeout,
        connections=base.connections,
        mail_from=base.mail_from,
        outbox_dir=base.outbox_dir,
        validate_certs=block.verify is not False,
        ca_file=base.ca_file,
    )


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


class _Failure(Exception):
    def __init__(self, status: Status, error: str):
        super().__init__(error)
        self.status, self.error = status, error


class _Refused(Exception):
    """530 to MAIL: the server wants a login or STARTTLS we did not do; its state, not the
    message's (like a refused login)."""


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _classify(exc: BaseException, *, data_sent: bool) -> _Failure:
    if isinstance(exc, SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "；".join(f"{r.recipient}（{r.code} {_one_line(r.message)}）" for r in exc.recipients)
        status = "retry" if any(400 <= c < 500 for c in codes) else "failed"
        return _Failure(status, f"全部收件人被拒收：{detail}")
    if isinstance(exc, SMTPResponseException):
        status = "retry" if 400 <= exc.code < 500 else "failed"
        return _Failure(status, f"邮件服务器拒绝（{exc.code}）：{_one_line(exc.message)}")
    if isinstance(exc, (SMTPServerDisconnected, TimeoutError, OSError)):
        if isinstance(exc, TimeoutError):
            what = "等待邮件服务器响应超时"
        else:
            what = f"与邮件服务器的连接中断或无法建立（{_one_line(exc)}）"
        if data_sent:
            return _Failure(
                "unknown",
                f"邮件内容已全部发出，但{what}，无法确认服务器是否已接收；为免重复发送，未自动重发，请人工核实",
            )
        return _Failure("retry", what)
    if isinstance(exc, SMTPNotSupported):
        return _Failure("failed", f"邮件服务器不支持所需功能：{_one_line(exc)}")
    return _Failure("unknown" if data_sent else "failed", f"投递出错：{_one_line(repr(exc))}")


def _tls_context(config: MailConfig) -> ssl.SSLContext | None:
    if config.security == "none":
        return None
    context = ssl.create_default_context()
    if config.ca_file:
        context.load_verify_locations(cafile=str(config.ca_file))  # in addition to the system CAs
    if not config.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Batch:
    def __init__(self, mails, config, on_result, max_attempts, backoff, guard=None):
        self.config, self.on_result, self.guard = config, on_result, guard
        self.max_attempts, self.backoff = max_attempts, backoff
        self.pending = deque((index, mail, 0) for index, mail in enumerate(mails))
        self.results = BatchOutcome([None] * len(mails))
        self.sender = parseaddr(config.mail_from)[1]
        if config.host and "@" not in self.sender:
            raise ValueError(f"发件人地址配置无效：{config.mail_from!r}")
        self.tls = _tls_context(config) if config.host else None
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
        """Write each message as <key>.eml: temp file + os.replace, so readers never see half
        a file and a rewrite (same key) replaces the file whole.

        No fsync per file (it cost more than everything else together). Instead the results
        of a group are reported only after one fsync of the directory: a file is recorded
        "sent" only once its rename is on disk. A crash before that leaves the rows
        claimed; the next sweep writes the same files again, which is harmless.
        """
        outbox = str(self.config.outbox_dir)
        os.makedirs(outbox, exist_ok=True)
        pid, flags = os.getpid(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        pending = [(index, mail) for index, mail, _ in self.pending]
        self.pending.clear()
        for start in range(0, len(pending), group):
            done = []
            for index, mail in pending[start:start + group]:
                key = str(mail.key)
                temp = None
                try:
                    if not _SAFE_KEY.fullmatch(key):
                        raise _Failure("failed", f"邮件编号不能用作文件名：{key!r}")
                    try:
                        data = wire_bytes(mail.message)
                    except Exception as exc:
                        raise _Failure("failed", f"邮件无法编码：{_one_line(exc)}") from exc
                    temp = os.path.join(outbox, f".{key}.{pid}.tmp")
                    fd = os.open(temp, flags, 0o666)
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view):]
                    finally:
                        os.close(fd)
                    os.replace(temp, os.path.join(outbox, f"{key}.eml"))
                    result = DeliveryResult(mail.key, "sent", None, 1)
                except _Failure as failure:
                    result = DeliveryResult(mail.key, failure.status, failure.error, 1)
                except OSError as exc:
                    if temp is not None:
                        try:
                            os.unlink(temp)
                        except OSError:
                            pass
                    result = DeliveryResult(mail.key, "retry", f"写入发件箱失败：{_one_line(exc)}", 1)
                done.append((index, result))
            if any(r.status == "sent" for _, r in done):
                try:
                    _fsync_dir(outbox)
                except OSError as exc:
                    error = f"写入发件箱失败（目录同步）：{_one_line(exc)}"
                    done = [(i, DeliveryResult(r.key, "retry", error, 1) if r.status == "sent" else r)
                            for i, r in done]
            for index, result in done:
                self.emit(index, result)

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
                except _Refused as refusal:
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
            self.emit(index, DeliveryResult(mail.key, "retry", f"未能投递：{refusal}", tried),
                      quiet=True)

    async def open(self, smtp: aiosmtplib.SMTP) -> str | None:
        """Connect (and log in); None when connected, else the server's refusal as one line.
        Only the last worker still trying waits and tries again: while another connection
        works, hammering a server that limits connections helps nobody."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                await smtp.connect()
                if self.config.username:
                    password = self.config.password
                    await smtp.login(
                        self.config.username, password.get_secret_value() if password else ""
                    )
                return None
            except Exception as exc:
                smtp.close()
                refusal = f"连接或登录邮件服务器失败：{_classify(exc, data_sent=False).error}"
            if self.live > 1 or attempt == self.max_attempts:
                return refusal
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return refusal

    async def send(self, smtp: aiosmtplib.SMTP, mail: OutgoingMail,
                   tried: int) -> tuple[DeliveryResult | None, int]:
        """One message over an open connection, retrying transient failures; (None, tried)
        when the connection was lost and must be reopened first."""
        try:
            rcpts, payload = wire_payload(mail.message)
        except Exception as exc:
            return DeliveryResult(mail.key, "failed", f"邮件无法编码：{_one_line(exc)}", 0), tried
        while True:
            if not smtp.is_connected:
                return None, tried
            tried += 1
            try:
                refused = await self.transaction(smtp, rcpts, payload)
            except _Failure as failure:
                if failure.status == "retry" and tried < self.max_attempts:
                    await asyncio.sleep(self.backoff * 2 ** (tried - 1))
                    continue
                return DeliveryResult(mail.key, failure.status, failure.error, tried), tried
            error = None
            if refused:
                error = "部分收件人被拒收：" + "；".join(
                    f"{r.recipient}（{r.code} {_one_line(r.message)}）" for r in refused
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
                    raise _Refused(f"连接或登录邮件服务器失败：{_classify(exc, data_sent=False).error}") from exc
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
        except _Refused:
            raise
        except Exception as exc:
            failure = _classify(exc, data_sent=data_sent)
            if not data_sent and smtp.is_connected:
                await _reset(smtp)
            raise failure from exc


def _fsync_dir(path: str) -> None:
    """Make the renames in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    """Clear a refused envelope so the connection can carry the next message."""
    try:
        await smtp.rset()
    except Exception:
        smtp.close()
