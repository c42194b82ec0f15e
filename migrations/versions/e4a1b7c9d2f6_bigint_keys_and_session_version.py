"""BIGINT keys; users.session_version

Revision ID: e4a1b7c9d2f6
Revises: c7d21e4b9f30
Create Date: 2026-12-01 10:00:00

- Every surrogate key and the foreign keys to it become BIGINT on PostgreSQL, and so do
  their sequences (a SERIAL's sequence is `AS integer`: it stops at 2^31 - 1 whatever the
  column's type). SQLite keeps INTEGER, its 64-bit rowid: nothing to do there.
  PostgreSQL rewrites each table under an exclusive lock: minutes for millions of rows.
- `users.session_version`: part of every session's id; moving it on ends every session
  of the account (sign-out, a new password, a disabled account).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4a1b7c9d2f6'
down_revision = 'c7d21e4b9f30'
branch_labels = None
depends_on = None

KEYS = ('events', 'attendees', 'attendee_status_changes', 'event_domains', 'outbox', 'users',
        'audit_log')
FOREIGN_KEYS = (('attendees', 'event_id'), ('attendee_status_changes', 'attendee_id'),
                ('event_domains', 'event_id'), ('outbox', 'attendee_id'))


def _set_key_type(old, new, sequence_type):
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    for table, column in FOREIGN_KEYS:
        op.alter_column(table, column, type_=new, existing_type=old)
    for table in KEYS:
        op.alter_column(table, 'id', type_=new, existing_type=old)
        sequence = bind.scalar(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"),
                               {'table': table})
        op.execute(f'ALTER SEQUENCE {sequence} AS {sequence_type}')


def upgrade():
    _set_key_type(sa.Integer(), sa.BigInteger(), 'bigint')
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('session_version')
    _set_key_type(sa.BigInteger(), sa.Integer(), 'integer')
