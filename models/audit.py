"""Append-only audit trail. Rows are only ever inserted (see rectify.workflow.record)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class AuditRecord(Base):
    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a person's name, or 系统 for imports/flows
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The business day the action counts for (--today): the report's "as of" replays on this.
    day: Mapped[date] = mapped_column(Date, index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict | None] = mapped_column(JSON)
    # How the actor was proven: 邮件验证码 (a one-time code from their email, through a form),
    # 命令行 (the administrator's console; os_account is the operating-system account) or 系统.
    proof: Mapped[str | None] = mapped_column(String(16))
    os_account: Mapped[str | None] = mapped_column(String(64))
