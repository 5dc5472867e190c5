"""Migrations that rewrite recorded rows keep what was recorded, upgrading and downgrading
(alembic on a SQLite file made at the older revision). `rectify init` upgrading a new ledger
is in test_cli_setup.py; migration 0008's voided codes are in test_code_secret.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError


def test_migration_0003_merges_per_measure_lines_and_allows_expired(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from models.db import get_engine
    from rectify.schema import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")
    with get_engine(url).begin() as conn:  # two measures of one item, one deadline (0002 rows)
        conn.execute(
            text(
                "INSERT INTO people (id, name, email, role, title, department) "
                "VALUES (1, '刘洋', 'p@x.cn', 'owner', '', '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO items (id, code, source, category, description, department, remark, "
                "status, owner_id, deadline, register_date, deadline_changed_on, created_at, "
                "updated_at) VALUES (1, 'M-1', '', '', 'd', '', '', 'in_progress', 1, '2026-12-01', "
                "'2026-09-01', '2026-09-01', '2026-09-01 00:00:00', '2026-09-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO outbox (id, key, source, day, kind, sections, recipient_id, recipient_name,"
                " recipient_email, cc, subject, body_text, body_html, status, attempts, created_at)"
                " VALUES (1, 'sweep:2026-11-30:1', 'sweep', '2026-11-30', 'due_soon', 'due_soon', 1,"
                " '刘洋', 'p@x.cn', '[]', 's', 't', 'h', 'retry', 1, '2026-11-30 00:00:00')"
            )
        )
        for position in (0, 1):
            conn.execute(
                text(
                    "INSERT INTO reminder_lines (outbox_id, item_id, measure_position, rung, "
                    "recipient_id, deadline, occurrence, days) VALUES "
                    f"(1, 1, {position}, 'due_soon_1', 1, '2026-12-01', '2026-12-01', 1)"
                )
            )
    get_engine(url).dispose()
    command.upgrade(alembic_config(url), "head")
    with get_engine(url).begin() as conn:
        assert conn.execute(text("SELECT measure_position FROM reminder_lines")).scalars().all() == [0]
        conn.execute(text("UPDATE outbox SET status = 'expired'"))
        with pytest.raises(IntegrityError):
            conn.execute(text("UPDATE outbox SET status = 'bogus'"))
    get_engine(url).dispose()
    command.downgrade(alembic_config(url), "0002")  # and back: no recorded line is lost
    with get_engine(url).begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM reminder_lines")).scalar() == 1
        assert conn.execute(text("SELECT status FROM outbox")).scalar() == "failed"
    get_engine(url).dispose()
