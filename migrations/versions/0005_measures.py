"""measures done one by one (day, by whom, note), 原定时限, and the extensions (申请延期) table

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table('measures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('done_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('done_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('done_note', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('original_deadline', sa.Date(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_measures_done_by_id_people'), 'people',
                                    ['done_by_id'], ['id'])

    op.create_table('extensions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('measure_text', sa.Text(), nullable=False),
    sa.Column('old_deadline', sa.Date(), nullable=False),
    sa.Column('new_deadline', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending','approved','rejected')", name=op.f('ck_extensions_status')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_extensions_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['people.id'], name=op.f('fk_extensions_requested_by_id_people')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['people.id'], name=op.f('fk_extensions_decided_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extensions'))
    )
    with op.batch_alter_table('extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extensions_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extensions_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_extensions_decided_on'), ['decided_on'], unique=False)
        batch_op.create_index('uq_extensions_pending', ['item_id', 'position'], unique=True,
                              sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_table('extensions')
    with op.batch_alter_table('measures', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_measures_done_by_id_people'), type_='foreignkey')
        batch_op.drop_column('original_deadline')
        batch_op.drop_column('done_note')
        batch_op.drop_column('done_by_id')
        batch_op.drop_column('done_on')
