"""outbox.params: messages rendered by the deliverer; the expiry index

Revision ID: b5d0f3a9c1e7
Revises: 9c41d7e2b8a5
Create Date: 2026-12-08 10:00:00

- `outbox.params` (JSON): a message is queued as its kind and the parameters of its
  templates, and rendered when it is sent, outside the transaction that queued it.
  `body_text` and `body_html` become nullable: rows queued before this revision keep their
  rendering and go out exactly as they were written; nothing is rendered here (rendering
  needs the application and the content files, which a migration must not depend on).
- `ix_attendees_awaiting_expiry`: a partial index on the registrations still waiting for
  their address, for `flask registrations expire`.

Downgrading needs every message queued since to be sent first (`flask outbox deliver`):
it stops, naming how many are not, rather than leave messages without a body.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d0f3a9c1e7'
down_revision = '9c41d7e2b8a5'
branch_labels = None
depends_on = None

AWAITING_EXPIRY = sa.text(
    "email_confirmed_at IS NULL AND expires_at IS NOT NULL"
    " AND status IN ('pending', 'waitlisted', 'review')"
)


def upgrade():
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=True)
        batch_op.alter_column('body_html', existing_type=sa.Text(), nullable=True)
    op.create_index('ix_attendees_awaiting_expiry', 'attendees', ['event_id', 'expires_at'],
                    postgresql_where=AWAITING_EXPIRY, sqlite_where=AWAITING_EXPIRY)


def downgrade():
    unsent = op.get_bind().scalar(sa.text(
        "SELECT count(*) FROM outbox WHERE body_text IS NULL AND status IN ('pending', 'sending',"
        " 'failed')"
    ))
    if unsent:
        raise RuntimeError(
            f"{unsent} message(s) de la file d’envoi ne sont pas encore rédigés : envoyez-les "
            "(flask outbox deliver) ou supprimez-les avant de revenir à cette version."
        )
    op.drop_index('ix_attendees_awaiting_expiry', table_name='attendees')
    op.execute("UPDATE outbox SET body_text = '' WHERE body_text IS NULL")
    op.execute("UPDATE outbox SET body_html = '' WHERE body_html IS NULL")
    with op.batch_alter_table('outbox') as batch_op:
        batch_op.alter_column('body_html', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('params')
