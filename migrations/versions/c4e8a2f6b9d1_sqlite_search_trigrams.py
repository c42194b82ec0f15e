"""The attendee list's search on SQLite: an FTS5 trigram table kept in step by triggers

Revision ID: c4e8a2f6b9d1
Revises: a7c3e9d1f5b2
Create Date: 2026-12-01 14:10:00

- `attendees_search` (SQLite only): an FTS5 table with the trigram tokenizer (SQLite 3.34
  or later), one row per registration (rowid = attendees.id) holding every field the
  search reads, in one text. Its index answers LIKE '%…%' for three characters or more:
  the search reads the few rows it gives, not the whole table. It is a first sieve (case
  folded, fields run together): the query keeps its exact test.
- Three triggers keep it in step with `attendees` (insert, change of a searched field,
  delete). A later revision that rebuilds `attendees` (a batch operation on SQLite copies
  the table and drops the old one, with its triggers) must create them again: see
  `create_triggers`; tests/test_migrations.py checks them at head.
- PostgreSQL has its trigram index (revision d8e2f4a6b1c3): nothing is done there.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e8a2f6b9d1'
down_revision = 'a7c3e9d1f5b2'
branch_labels = None
depends_on = None

FIELDS = "{0}.first_name || ' ' || {0}.last_name || ' ' || {0}.email || ' ' || {0}.employer"
TRIGGERS = ("attendees_search_insert", "attendees_search_update", "attendees_search_delete")


def create_triggers():
    op.execute(
        "CREATE TRIGGER attendees_search_insert AFTER INSERT ON attendees BEGIN "
        f"INSERT INTO attendees_search (rowid, text) VALUES (new.id, {FIELDS.format('new')}); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER attendees_search_update "
        "AFTER UPDATE OF first_name, last_name, email, employer ON attendees BEGIN "
        f"UPDATE attendees_search SET text = {FIELDS.format('new')} WHERE rowid = old.id; "
        "END"
    )
    op.execute(
        "CREATE TRIGGER attendees_search_delete AFTER DELETE ON attendees BEGIN "
        "DELETE FROM attendees_search WHERE rowid = old.id; "
        "END"
    )


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.execute("CREATE VIRTUAL TABLE attendees_search USING fts5(text, tokenize = 'trigram')")
    op.execute(
        "INSERT INTO attendees_search (rowid, text) "
        f"SELECT id, {FIELDS.format('attendees')} FROM attendees"
    )
    create_triggers()


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS attendees_search")
