"""proof of person: one-time codes (验证码) and how each audited actor was proven

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('action_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.String(length=16), nullable=True),
    sa.Column('wrong_tries', sa.Integer(), nullable=False),
    sa.Column('tried_keys', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_action_codes_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_action_codes_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_codes'))
    )
    op.create_index('ix_action_codes_item_step', 'action_codes', ['item_id', 'step'], unique=False)
    op.create_index(op.f('ix_action_codes_person_id'), 'action_codes', ['person_id'], unique=False)
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proof', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('os_account', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_column('os_account')
        batch_op.drop_column('proof')
    op.drop_index(op.f('ix_action_codes_person_id'), table_name='action_codes')
    op.drop_index('ix_action_codes_item_step', table_name='action_codes')
    op.drop_table('action_codes')
