"""One-time codes (验证码): the proof that the person who acts is the person the email went to.

Prefect's self-hosted server has no per-person accounts, so a form's typed name proves nothing.
Each email that asks someone to act carries a code for that person, that item and that step.
Neither the code nor a hash of it is stored here: only a random nonce, the code being
HMAC(key, nonce) with a key kept outside the ledger (rectify.code_key, rectify.codes). A row is
live until it is used, voided (a newer code for the same person, item and step replaced it,
too many wrong tries, or "rekeyed": issued before codes were keyed, migration 0008) or expired.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ActionCode(Base):
    __tablename__ = "action_codes"
    __table_args__ = (Index("ix_action_codes_item_step", "item_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(16))  # assign | submit | extend | leader_review | review
    nonce: Mapped[str | None] = mapped_column(String(32))  # random; None: a voided pre-0008 row
    key_id: Mapped[str | None] = mapped_column(String(16))  # which key (rectify.code_key), not it
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(String(16))  # superseded | tries | rekeyed
    wrong_tries: Mapped[int] = mapped_column(Integer, default=0)
    # The form submissions (run id and pause key) already counted: a resumed run replays its
    # earlier inputs from the top, and a replayed wrong guess is not a new one.
    tried_keys: Mapped[list] = mapped_column(JSON, default=list)
