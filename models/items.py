"""The register: items, their measures, progress notes and evidence."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.people import Person
from models.status import EXTENSION_STATUS_LABELS, Status  # noqa: F401  (the labels lived here)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(128), default="")
    category: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(128), default="")
    remark: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[Status] = mapped_column(
        Enum(Status, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        index=True,
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    # The item's deadline is the latest deadline of its measures (None when every measure is
    # 长期坚持). Stored, not computed on read, so overdue queries stay one indexed comparison.
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    register_date: Mapped[date] = mapped_column(Date)
    # The business day the deadline last changed: the reminder ladder restarts from here.
    deadline_changed_on: Mapped[date] = mapped_column(Date)
    last_progress_on: Mapped[date | None] = mapped_column(Date)
    # The submitter of the pending closure, so the approver can be checked against them.
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    closed_on: Mapped[date | None] = mapped_column(Date)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    # 汇报频次 from the register (monthly / weekly / quarterly / off); None: RECTIFY_REPORTING.
    reporting: Mapped[str | None] = mapped_column(String(16))
    # 复核日期 (回头看): set by each approval, cleared when the re-check is recorded.
    recheck_on: Mapped[date | None] = mapped_column(Date, index=True)
    # What the register said at the last import for the fields the CLI can also change
    # (owner_id, leader_id, department): the base of the three-way re-import (rectify.reimport).
    imported: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    owner: Mapped[Person | None] = relationship(back_populates="owned_items", foreign_keys=[owner_id])
    leader: Mapped[Person | None] = relationship(back_populates="led_items", foreign_keys=[leader_id])
    submitted_by: Mapped[Person | None] = relationship(foreign_keys=[submitted_by_id])
    measures: Mapped[list[Measure]] = relationship(
        back_populates="item", order_by="Measure.position", cascade="all, delete-orphan"
    )
    progress_notes: Mapped[list[ProgressNote]] = relationship(
        back_populates="item", order_by="ProgressNote.id", cascade="all, delete-orphan"
    )
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="item", order_by="Evidence.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"Item({self.code!r}, {self.status.value})"


class Measure(Base):
    __tablename__ = "measures"
    __table_args__ = (UniqueConstraint("item_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date, index=True)  # None: 长期坚持
    deadline_text: Mapped[str] = mapped_column(String(64))  # as the office wrote it
    # Done one by one (DOMAIN.md "Measures"): the day, who (None: the register said so) and
    # what was done. An unfinished dated measure past its deadline makes the item overdue.
    done_on: Mapped[date | None] = mapped_column(Date)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    done_note: Mapped[str] = mapped_column(Text, default="")
    # 原定时限: the deadline before the first approved extension (None: never extended).
    original_deadline: Mapped[date | None] = mapped_column(Date)

    item: Mapped[Item] = relationship(back_populates="measures")

    @property
    def ongoing(self) -> bool:
        return self.deadline is None


class ProgressNote(Base):
    __tablename__ = "progress_notes"
    # "a note in this reporting period?" is asked for every open item (rectify.reporting)
    __table_args__ = (Index("ix_progress_notes_item_day", "item_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # None: from the register
    day: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text)
    percent: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    item: Mapped[Item] = relationship(back_populates="progress_notes")
    author: Mapped[Person | None] = relationship()


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(Text)  # a file path or URL
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    item: Mapped[Item] = relationship(back_populates="evidence")


# An extension's life: asked for, then approved or rejected by a secretary (never the asker).
EXTENSION_STATUSES = ("pending", "approved", "rejected")


class Extension(Base):
    """申请延期 for one measure. Keyed by item and measure position, not by the measure row:
    a re-import replaces measure rows, and the record of an extension must outlive that."""

    __tablename__ = "extensions"
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')", name="status"),
        # at most one pending request per measure
        Index(
            "uq_extensions_pending",
            "item_id",
            "position",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # Measure.position (措施 N is position + 1)
    measure_text: Mapped[str] = mapped_column(Text)
    old_deadline: Mapped[date] = mapped_column(Date)
    new_deadline: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    requested_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_on: Mapped[date | None] = mapped_column(Date, index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
