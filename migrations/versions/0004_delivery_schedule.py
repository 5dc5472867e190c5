"""outbox: next_attempt_at, so retries are spaced in time rather than counted per command

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: may be tried at once (every row written before this revision, every new row).
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it copies and drops the outbox table, and dropping it (foreign
    # keys on) would cascade to reminder_lines. SQLite 3.35+ drops a plain column in place.
    op.execute("ALTER TABLE outbox DROP COLUMN next_attempt_at")
