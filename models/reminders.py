"""The outbox: every email the system decides to send, recorded before it is sent.

One `OutboxMail` row is one email. The daily sweep writes at most one per recipient and day
(its `key` is ``sweep:<day>:<person id>``); event notices (assigned, rejected, closed,
delivery_failed) use the caller's idempotency key. The rendered subject and bodies are stored,
so a retry sends exactly what was decided, and the recipient's address is copied (the person
may change later). Passwords never come near this table.

`ReminderLine` says what an email is about: which item, which rung of the ladder, for which
deadline (one line per item and deadline, however many measures share it). Its unique
constraint is what makes "never sent twice" and "a changed deadline restarts the ladder" hold
in the database, not only in code:

* once-per-deadline rungs (due_soon_N, due_today, due_today_cc) use ``occurrence = deadline``:
  the same rung for the same deadline can be recorded only once, ever; a new deadline is a
  new key, so the ladder starts again;
* daily rungs (overdue_*) use ``occurrence = day``: once per day;
* notice lines have ``occurrence = NULL`` (NULLs never collide): their email's key guards them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

# expired: a sweep digest of an earlier day that was never delivered. Recorded, not sent: a
# later sweep must not replay it (DOMAIN.md), and that day's digest lists what is still due.
OUTBOX_STATUSES = ("pending", "sending", "sent", "retry", "failed", "unknown", "expired")

OUTBOX_STATUS_LABELS = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "retry": "待重试",
    "failed": "发送失败",
    "unknown": "结果未知",
    "expired": "过期未发",
}

STATUS_CHECK = "status IN (" + ",".join(f"'{s}'" for s in OUTBOX_STATUSES) + ")"


class OutboxMail(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        CheckConstraint(STATUS_CHECK, name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # sweep | notice
    day: Mapped[date] = mapped_column(Date, index=True)
    # The email's kind: one of notifications.compose.KINDS, or "digest" for several sections.
    kind: Mapped[str] = mapped_column(String(32))
    sections: Mapped[str] = mapped_column(String(200), default="")  # comma-separated rungs/kinds
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    recipient_name: Mapped[str] = mapped_column(String(64))
    recipient_email: Mapped[str] = mapped_column(String(254))
    cc: Mapped[list] = mapped_column(JSON, default=list)  # [[name, email], ...]
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The lease: who claimed the row and when. A sweep killed after claiming leaves the row in
    # "sending"; once claimed_at is older than the lease, the next sweep may claim it again.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A row waiting for a retry is not claimed before this time (rectify.outbox_claims.retry_delay):
    # attempts are spaced in time, however many commands or sweeps run meanwhile.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(String(200))
    # When the secretary was told about a failed/unknown delivery (delivery_failed notice).
    failure_reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    lines: Mapped[list[ReminderLine]] = relationship(back_populates="mail", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"OutboxMail({self.key!r}, {self.status})"


class ReminderLine(Base):
    __tablename__ = "reminder_lines"
    __table_args__ = (
        # Keyed by (item, deadline), not by measure: a re-import replaces measure rows and may
        # reorder them, and measures of one item sharing a deadline are always in the same
        # email on the same day anyway. measure_position only says which measure came first.
        UniqueConstraint("item_id", "rung", "recipient_id", "deadline", "occurrence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    measure_position: Mapped[int] = mapped_column(Integer)  # -1: the item as a whole (notices)
    rung: Mapped[str] = mapped_column(String(24))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    deadline: Mapped[date | None] = mapped_column(Date)
    occurrence: Mapped[date | None] = mapped_column(Date, index=True)
    days: Mapped[int | None] = mapped_column(Integer)  # working days left / overdue

    mail: Mapped[OutboxMail] = relationship(back_populates="lines")
