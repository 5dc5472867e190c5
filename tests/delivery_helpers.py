"""A ledger with reminders due, the mail settings the delivery tests use and a way to let time
pass, shared by the delivery, expiry, marking and fault tests.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from models import OutboxMail
from notifications.smtp import MailConfig
from rectify.reminders import plan_reminders, record_reminders
from smtp_servers import HOST
from reminder_helpers import CAL, SETTINGS, item, people


DAY = date(2026, 11, 30)


FAST = dict(backoff=0.01, max_attempts=2)


def config(controller, **over) -> MailConfig:
    return MailConfig(
        host=HOST,
        port=controller.port,
        timeout=over.pop("timeout", 2.0),
        connections=over.pop("connections", 1),
        **over,
    )


def sweep_ledger(maker, n_owners: int = 3) -> None:
    """n owners with one overdue item each (owner + leader digests), plus a secretary."""
    with maker.begin() as s:
        p = people(s)
        from models import Person, Role

        owners = [
            Person(name=f"责任人{i}", email=f"o{i}@example.gov.cn", role=Role.owner) for i in range(n_owners)
        ]
        s.add_all(owners)
        s.flush()
        for i, owner in enumerate(owners):
            item(s, f"Z-{i}", owner, p["周建国"], date(2026, 11, 25))
        record_reminders(s, DAY, plan_reminders(s, DAY, CAL, SETTINGS), SETTINGS)


def time_passes(maker, delta: timedelta = timedelta(days=1)) -> None:
    """Move every lease and next-attempt time `delta` into the past, as if that much time
    had gone by (the delivery code reads the real clock)."""
    with maker.begin() as s:
        for row in s.scalars(select(OutboxMail)):
            row.claimed_at = row.claimed_at and row.claimed_at - delta
            row.next_attempt_at = row.next_attempt_at and row.next_attempt_at - delta


def delivered_to(handler) -> list[str]:
    return sorted(r for m in handler.messages for r in m.rcpt_tos)
