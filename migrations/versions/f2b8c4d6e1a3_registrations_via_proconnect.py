"""attendees.via_proconnect: registrations made with ProConnect

Revision ID: f2b8c4d6e1a3
Revises: d8e2f4a6b1c3
Create Date: 2026-12-01 13:00:00

- `attendees.via_proconnect` (boolean, false for every earlier row): the agent signed in
  with ProConnect, whose `roles` said their organisation is public, and whose address the
  federation verified; organisers see it in the attendee list and the exports.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2b8c4d6e1a3'
down_revision = 'd8e2f4a6b1c3'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN, which SQLite does in place: batch mode would copy the table and
    # lose its statistics (the dashboard's plans depend on them, see d8e2f4a6b1c3).
    op.add_column(
        'attendees',
        sa.Column('via_proconnect', sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade():
    with op.batch_alter_table('attendees') as batch_op:
        batch_op.drop_column('via_proconnect')
