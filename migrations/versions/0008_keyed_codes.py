"""keyed codes: no code and no unkeyed hash of one in the ledger

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Until 0007 a code row held a salted SHA-256 of the code (recovered offline by trying the
million values) and the outbox held the codes in clear in the emails' bodies. From 0008 a code
is HMAC(key, nonce) with a key outside the ledger (rectify.code_key) and the outbox holds the
token `[[code:<id>]]`, bound at send time. Old codes cannot be converted (their key would be
the ledger itself), so this revision voids every live one (void_reason "rekeyed": the form
says a new code comes with the next email), drops the salts and digests, and removes the
codes from the stored emails (sent or not: a queued old email goes with the note instead).
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

CODE = re.compile(r"验证码：(<strong[^>]*>)?\d{6}")
NOTE = "（已作废：系统升级后另行发送新的验证码）"


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE action_codes SET voided_at = CURRENT_TIMESTAMP, "
                         "void_reason = 'rekeyed' WHERE used_at IS NULL AND voided_at IS NULL"))
    with op.batch_alter_table('action_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
        batch_op.drop_column('digest')
        batch_op.drop_column('salt')
    rows = bind.execute(sa.text(
        "SELECT id, subject, body_text, body_html FROM outbox "
        "WHERE body_text LIKE '%验证码：%' OR body_html LIKE '%验证码：%'")).all()
    for row in rows:
        def scrub(text):
            return CODE.sub(lambda m: "验证码：" + (m.group(1) or "") + NOTE, text or "")
        bind.execute(sa.text("UPDATE outbox SET subject = :s, body_text = :t, body_html = :h "
                             "WHERE id = :id"),
                     {"s": scrub(row.subject), "t": scrub(row.body_text),
                      "h": scrub(row.body_html), "id": row.id})


def downgrade() -> None:
    # Keyed rows cannot be turned back into digests: they are voided, as 0008 voided the old.
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE action_codes SET voided_at = CURRENT_TIMESTAMP, "
                         "void_reason = 'rekeyed' WHERE used_at IS NULL AND voided_at IS NULL"))
    with op.batch_alter_table('action_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('salt', sa.String(length=32), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=False,
                                      server_default=''))
        batch_op.drop_column('key_id')
        batch_op.drop_column('nonce')
