"""Generic answers to the event's questions; the admin's capacity overrides the file's

Revision ID: a3c9e1f07b52
Revises: 6e52d0c21c7f
Create Date: 2026-11-23 15:10:00

- `attendees.departments` (the DINUM forum's list) becomes `attendees.answers`, a JSON object
  keyed by question id. Existing lists move to the key `departements`, the id of that question
  in the DINUM event's front matter.
- `events.capacity` was copied from the content file when the row was created, so a later
  edit of the file did nothing. It becomes `capacity_override`, in force only where an admin
  set it (`capacity_overridden`): that is where the audit log records a capacity change.

Plain ALTER TABLE statements, which SQLite (3.35+) and PostgreSQL both run: a batch copy
of the table on SQLite would drop the CHECK constraints of its status column.
"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c9e1f07b52'
down_revision = '6e52d0c21c7f'
branch_labels = None
depends_on = None

QUESTION_ID = "departements"


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def upgrade():
    bind = op.get_bind()
    op.add_column('attendees', sa.Column('answers', sa.JSON(), nullable=False, server_default='{}'))
    rows = bind.execute(sa.text("SELECT id, departments FROM attendees")).all()
    for row_id, departments in rows:
        chosen = _json(departments) or []
        if chosen:
            bind.execute(
                sa.text("UPDATE attendees SET answers = :answers WHERE id = :id"),
                {"answers": json.dumps({QUESTION_ID: chosen}), "id": row_id},
            )
    op.execute("ALTER TABLE attendees DROP COLUMN departments")

    op.execute("ALTER TABLE events RENAME COLUMN capacity TO capacity_override")
    op.add_column(
        'events',
        sa.Column('capacity_overridden', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    bind.execute(
        sa.text(
            "UPDATE events SET capacity_overridden = :yes WHERE slug IN "
            "(SELECT event_slug FROM audit_log WHERE action = 'capacity')"
        ),
        {"yes": True},
    )
    bind.execute(
        sa.text("UPDATE events SET capacity_override = NULL WHERE capacity_overridden = :no"),
        {"no": False},
    )


def downgrade():
    bind = op.get_bind()
    op.execute("ALTER TABLE events DROP COLUMN capacity_overridden")
    op.execute("ALTER TABLE events RENAME COLUMN capacity_override TO capacity")

    op.add_column(
        'attendees', sa.Column('departments', sa.JSON(), nullable=False, server_default='[]')
    )
    rows = bind.execute(sa.text("SELECT id, answers FROM attendees")).all()
    for row_id, answers in rows:
        chosen = (_json(answers) or {}).get(QUESTION_ID) or []
        if chosen:
            bind.execute(
                sa.text("UPDATE attendees SET departments = :departments WHERE id = :id"),
                {"departments": json.dumps(chosen), "id": row_id},
            )
    op.execute("ALTER TABLE attendees DROP COLUMN answers")
