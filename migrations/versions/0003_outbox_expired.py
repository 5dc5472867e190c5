"""outbox: status 'expired' (stale sweep digests); reminder lines keyed by item and deadline

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending','sending','sent','retry','failed','unknown')"
NEW_STATUSES = "status IN ('pending','sending','sent','retry','failed','unknown','expired')"
OLD_KEY = ['item_id', 'measure_position', 'rung', 'recipient_id', 'deadline', 'occurrence']
NEW_KEY = ['item_id', 'rung', 'recipient_id', 'deadline', 'occurrence']


def _replace_status_check(check: str) -> None:
    """SQLite cannot alter a CHECK: batch mode copies and drops the outbox table, and dropping
    it (foreign keys on) cascades to reminder_lines. Keep a copy of the lines and put them
    back, so no recorded reminder is lost; PostgreSQL alters the constraint in place."""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute("DROP TABLE IF EXISTS temp._rectify_lines")
        op.execute("CREATE TEMP TABLE _rectify_lines AS SELECT * FROM reminder_lines")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_outbox_status'), type_='check')
        batch_op.create_check_constraint('status', check)
    if sqlite:
        op.execute("DELETE FROM reminder_lines")  # empty already; never insert a row twice
        op.execute("INSERT INTO reminder_lines SELECT * FROM _rectify_lines")
        op.execute("DROP TABLE temp._rectify_lines")


def upgrade() -> None:
    _replace_status_check(NEW_STATUSES)
    # Lines of measures of one item that shared a deadline were recorded once per measure;
    # under the new key they are one reminder: keep the first (same email, same day).
    op.execute(
        "DELETE FROM reminder_lines WHERE occurrence IS NOT NULL AND EXISTS ("
        " SELECT 1 FROM reminder_lines AS o WHERE o.id < reminder_lines.id"
        " AND o.item_id = reminder_lines.item_id AND o.rung = reminder_lines.rung"
        " AND o.recipient_id IS NOT DISTINCT FROM reminder_lines.recipient_id"
        " AND o.deadline IS NOT DISTINCT FROM reminder_lines.deadline"
        " AND o.occurrence = reminder_lines.occurrence)"
        if op.get_bind().dialect.name == 'postgresql' else
        "DELETE FROM reminder_lines WHERE occurrence IS NOT NULL AND EXISTS ("
        " SELECT 1 FROM reminder_lines AS o WHERE o.id < reminder_lines.id"
        " AND o.item_id = reminder_lines.item_id AND o.rung = reminder_lines.rung"
        " AND o.recipient_id IS reminder_lines.recipient_id"
        " AND o.deadline IS reminder_lines.deadline"
        " AND o.occurrence = reminder_lines.occurrence)"
    )
    with op.batch_alter_table('reminder_lines', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reminder_lines_item_id'), type_='unique')
    with op.batch_alter_table('reminder_lines', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_reminder_lines_item_id'), NEW_KEY)


def downgrade() -> None:
    with op.batch_alter_table('reminder_lines', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reminder_lines_item_id'), type_='unique')
    with op.batch_alter_table('reminder_lines', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_reminder_lines_item_id'), OLD_KEY)
    op.execute("UPDATE outbox SET status = 'failed' WHERE status = 'expired'")
    _replace_status_check(OLD_STATUSES)
