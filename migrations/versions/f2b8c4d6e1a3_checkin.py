"""Check-in at the door: attendees.checked_in_at, checked_in_by, and their index

Revision ID: f2b8c4d6e1a3
Revises: b5d0f3a9c1e7
Create Date: 2026-12-01 13:30:00

- `checked_in_at` (timestamp): the arrival, set once by a guarded UPDATE (two doors scanning
  the same code record one arrival); cleared by an undo.
- `checked_in_by`: the staff account that recorded it (SET NULL if the account goes).
- `ix_attendees_event_checked_in`: the dashboard counts the arrivals from the index alone;
  partial (only the rows checked in), so a sign-up writes nothing to it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2b8c4d6e1a3'
down_revision = 'b5d0f3a9c1e7'
branch_labels = None
depends_on = None

BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
CHECKED_IN = sa.text("checked_in_at IS NOT NULL")


def upgrade():
    with op.batch_alter_table('attendees') as batch_op:
        batch_op.add_column(sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('checked_in_by', BIG_KEY, nullable=True))
        batch_op.create_foreign_key(
            'fk_attendees_checked_in_by_users', 'users', ['checked_in_by'], ['id'],
            ondelete='SET NULL',
        )
    op.create_index('ix_attendees_event_checked_in', 'attendees', ['event_id'],
                    postgresql_where=CHECKED_IN, sqlite_where=CHECKED_IN)


def downgrade():
    op.drop_index('ix_attendees_event_checked_in', table_name='attendees')
    with op.batch_alter_table('attendees') as batch_op:
        batch_op.drop_constraint('fk_attendees_checked_in_by_users', type_='foreignkey')
        batch_op.drop_column('checked_in_by')
        batch_op.drop_column('checked_in_at')
