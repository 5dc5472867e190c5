"""items: 汇报频次 (reporting), 复核日期 (recheck_on), last imported values (imported);
progress notes indexed by (item, day) for the 定期报送 check

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02
"""
import json

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both dialects (see downgrade for why not batch mode).
    op.add_column('items', sa.Column('reporting', sa.String(length=16), nullable=True))
    op.add_column('items', sa.Column('recheck_on', sa.Date(), nullable=True))
    op.add_column('items', sa.Column('imported', sa.JSON(), nullable=True))
    op.create_index(op.f('ix_items_recheck_on'), 'items', ['recheck_on'], unique=False)
    op.create_index('ix_progress_notes_item_day', 'progress_notes', ['item_id', 'day'], unique=False)
    # The ledger's values are the best base there is for items imported before this revision:
    # a re-import then behaves as before where the register differs (the register wins), and
    # from the next import on the three-way comparison has the register's own values.
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, owner_id, leader_id, department FROM items")).all()
    if rows:
        conn.execute(sa.text("UPDATE items SET imported = :imported WHERE id = :id"), [
            {"id": r.id, "imported": json.dumps(
                {"owner_id": r.owner_id, "leader_id": r.leader_id, "department": r.department},
                ensure_ascii=False)}
            for r in rows])


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), never batch mode: batch would copy and
    # drop `items`, and with foreign keys on that cascades to every measure, note and line.
    op.drop_index('ix_progress_notes_item_day', table_name='progress_notes')
    op.drop_index(op.f('ix_items_recheck_on'), table_name='items')
    for column in ('imported', 'recheck_on', 'reporting'):
        op.drop_column('items', column)
