"""Manual verification of agents the domain list does not know; one notice a day to duplicates

Revision ID: c7d21e4b9f30
Revises: a3c9e1f07b52
Create Date: 2026-11-23 15:20:00

- Two statuses: `review` (the address is outside the public-sector list: an organiser
  decides) and `refused` (the organiser refused). The CHECK constraints of both status columns
  are rebuilt: with a batch copy on SQLite, which is given the new column types so that it
  writes the new CHECK.
- `attendees`: the agent's justification, the organiser's decision (message, who, when), and
  when the last "already registered" notice went out.
- `event_domains`: domains an organiser accepted for an event while accepting a request.
- Only a confirmed address holds a seat now: the seat counters are counted again.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d21e4b9f30'
down_revision = 'a3c9e1f07b52'
branch_labels = None
depends_on = None

OLD = ('pending', 'confirmed', 'waitlisted', 'cancelled', 'expired')
NEW = (*OLD, 'review', 'refused')
TABLES = (('attendees', 'attendee_status'), ('attendee_status_changes', 'status_change_status'))


def _set_statuses(values):
    for table, name in TABLES:
        check = f'ck_{table}_{name}'
        if op.get_bind().dialect.name == 'sqlite':
            # The copy reflects the old CHECK: drop it, and let the column's new type write
            # the new one under the same name.
            status = sa.Enum(
                *values, name=check, native_enum=False, create_constraint=True, length=20
            )
            with op.batch_alter_table(
                table,
                recreate='always',
                reflect_args=[sa.Column('status', status, nullable=False)],
            ) as batch_op:
                batch_op.drop_constraint(op.f(check), type_='check')
        else:
            op.drop_constraint(op.f(check), table, type_='check')
            op.create_check_constraint(op.f(check), table, sa.column('status').in_(values))


def _count_seats(holding):
    statuses = ", ".join(f"'{s}'" for s in holding)
    op.execute(
        "UPDATE events SET seats_taken = (SELECT count(*) FROM attendees "
        f"WHERE attendees.event_id = events.id AND attendees.status IN ({statuses}))"
    )


def upgrade():
    _set_statuses(NEW)
    with op.batch_alter_table('attendees') as batch_op:
        batch_op.add_column(sa.Column('justification', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('review_message', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('reviewed_by', sa.String(length=254), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('duplicate_notice_at', sa.DateTime(timezone=True), nullable=True))
    _count_seats(('confirmed',))
    op.create_table('event_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('added_by', sa.String(length=254), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_domains_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_domains')),
    sa.UniqueConstraint('event_id', 'domain', name='uq_event_domains_event_domain')
    )


def downgrade():
    op.drop_table('event_domains')
    with op.batch_alter_table('attendees') as batch_op:
        batch_op.drop_column('duplicate_notice_at')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('review_message')
        batch_op.drop_column('justification')
    op.execute("DELETE FROM attendee_status_changes WHERE status IN ('review', 'refused')")
    op.execute("UPDATE attendees SET status = 'expired' WHERE status IN ('review', 'refused')")
    _set_statuses(OLD)
    _count_seats(('pending', 'confirmed'))
