"""Check-in at the door: attendees.checked_in_at, checked_in_by, and their index

Revision ID: a7c3e9d1f5b2
Revises: f2b8c4d6e1a3
Create Date: 2026-12-01 13:30:00

- `checked_in_at` (timestamp): the arrival, set once by a guarded UPDATE (two doors scanning
  the same code record one arrival); cleared by an undo.
- `checked_in_by`: the staff account that recorded it (SET NULL if the account goes).
- `ix_attendees_event_checked_in` (event, status): the dashboard counts the confirmed
  arrivals from the index alone;
  partial (only the rows checked in), so a sign-up writes nothing to it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e9d1f5b2'
down_revision = 'f2b8c4d6e1a3'
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
    op.create_index('ix_attendees_event_checked_in', 'attendees', ['event_id', 'status'],
                    postgresql_where=CHECKED_IN, sqlite_where=CHECKED_IN)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite' and bind.scalar(sa.text(
        "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
    )):
        # Batch mode copied the table, and SQLite forgot its statistics: without them the
        # planner mistakes the dashboard's indexes (see d8e2f4a6b1c3).
        op.execute("ANALYZE attendees")


def downgrade():
    op.drop_index('ix_attendees_event_checked_in', table_name='attendees')
    with op.batch_alter_table('attendees') as batch_op:
        batch_op.drop_constraint('fk_attendees_checked_in_by_users', type_='foreignkey')
        batch_op.drop_column('checked_in_by')
        batch_op.drop_column('checked_in_at')
