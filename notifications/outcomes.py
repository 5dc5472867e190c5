"""What became of each message, and how an SMTP error is sorted into one of four outcomes.

Outcomes, per message:

* ``sent``    – the server accepted the message (250 after the end-of-data dot), or, in
                outbox mode, the .eml file was written.
* ``retry``   – a transient problem (4xx reply, connection refused/lost or timed out before
                the message data had been sent), or the server refused the connection
                itself. Retried by the batch with exponential backoff up to ``max_attempts``;
                after that the outbox row waits for its next-attempt time
                (rectify.outbox_claims.retry_delay) and a later run tries again.
* ``failed``  – a permanent refusal (5xx reply, every recipient refused with 5xx). Not
                retried: sending the same thing again would get the same answer.
* ``unknown`` – the whole message had been written and we lost the connection or timed out
                while waiting for the reply to the end-of-data dot.

Why ``unknown`` is not resent: RFC 5321 §4.1.1.4 puts the moment of responsibility at the
server's reply to the dot. If that reply never reaches us, the server may well have queued
the message already (RFC 1047 describes exactly this duplicate-message window). A reminder
is recorded as "never sent twice", and a duplicate 催办 to a leader is worse than a late
one, so we stop there; the sweep marks the row for the secretary to check by hand.

This module holds the rule (``classify``) and the result types, shared by the SMTP batch
(notifications/smtp.py) and the .eml writer (notifications/eml_files.py), so that the two
ways of delivering report outcomes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Protocol

from aiosmtplib import (
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
)

Status = Literal["sent", "retry", "failed", "unknown"]


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


class Guard(Protocol):
    def tick(self) -> None: ...
    def may_send(self, key: str) -> bool: ...


class BatchOutcome(list):
    """The results in input order, plus what the batch learnt about the server."""

    refusal: str | None = None  # the server refused the connection/greeting/STARTTLS/login
    skipped: int = 0  # not sent because the guard withdrew them (lease lost)


class Failure(Exception):
    """One message's outcome other than sent, with its Chinese reason."""

    def __init__(self, status: Status, error: str):
        super().__init__(error)
        self.status, self.error = status, error


class Refused(Exception):
    """530 to MAIL: the server wants a login or STARTTLS we did not do; its state, not the
    message's (like a refused login)."""


def one_line(text) -> str:
    return " ".join(str(text).split())


def classify(exc: BaseException, *, data_sent: bool) -> Failure:
    """The outcome of an exception raised while delivering; `data_sent` once the whole
    message has been written (only then can the outcome be ``unknown``)."""
    if isinstance(exc, SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "；".join(f"{r.recipient}（{r.code} {one_line(r.message)}）" for r in exc.recipients)
        status: Status = "retry" if any(400 <= c < 500 for c in codes) else "failed"
        return Failure(status, f"全部收件人被拒收：{detail}")
    if isinstance(exc, SMTPResponseException):
        reply: Status = "retry" if 400 <= exc.code < 500 else "failed"
        return Failure(reply, f"邮件服务器拒绝（{exc.code}）：{one_line(exc.message)}")
    if isinstance(exc, (SMTPServerDisconnected, TimeoutError, OSError)):
        if isinstance(exc, TimeoutError):
            what = "等待邮件服务器响应超时"
        else:
            what = f"与邮件服务器的连接中断或无法建立（{one_line(exc)}）"
        if data_sent:
            return Failure(
                "unknown",
                f"邮件内容已全部发出，但{what}，无法确认服务器是否已接收；为免重复发送，未自动重发，请人工核实",
            )
        return Failure("retry", what)
    if isinstance(exc, SMTPNotSupported):
        return Failure("failed", f"邮件服务器不支持所需功能：{one_line(exc)}")
    return Failure("unknown" if data_sent else "failed", f"投递出错：{one_line(repr(exc))}")
