"""the event log partitioned by month on PostgreSQL (db/partitions.py), so retention drops
whole months instead of deleting rows

The table is rebuilt: its rows are copied into the partitioned one (every month they
span gets its partition), so large installations run this in a maintenance window, like
0012 (docs/operations.md). A partition key must be part of every unique constraint:
the primary key becomes (id, occurred_at) and the (org_id, seq) key (org_id, seq,
occurred_at); seq stays unique per organization because it is allocated under the
organization's row lock (resolvers/uow.py). SQLite keeps its one table.

Revision ID: 0018
Revises: 0017
"""
from datetime import datetime, timezone

from alembic import op

from db.partitions import DEFAULT_PARTITION, ensure_months

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

COPY_CONSTRAINTS = """
ALTER TABLE {table} ADD CONSTRAINT {table}_org_id_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE {table} ADD CONSTRAINT {table}_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX ix_events_opportunity ON {table} (opportunity_id, seq);
"""


def _set_aside() -> None:
    """Rename the current table and the names its indexes hold (index names are global)."""
    op.execute("ALTER TABLE events RENAME TO events_old")
    op.execute("ALTER INDEX ix_events_opportunity RENAME TO ix_events_opportunity_old")
    op.execute("ALTER TABLE events_old RENAME CONSTRAINT events_pkey TO events_old_pkey")


def _move_rows() -> None:
    op.execute("INSERT INTO events SELECT * FROM events_old")
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("DROP TABLE events_old")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    unique = bind.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'u'").scalar_one()
    _set_aside()
    op.execute(f"ALTER TABLE events_old RENAME CONSTRAINT {unique} TO events_old_org_id_seq_key")
    op.execute("CREATE TABLE events (LIKE events_old INCLUDING DEFAULTS) PARTITION BY RANGE (occurred_at)")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id, occurred_at)")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_org_id_seq_key UNIQUE (org_id, seq, occurred_at)")
    for statement in COPY_CONSTRAINTS.format(table="events").strip().splitlines():
        op.execute(statement)
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF events DEFAULT")
    oldest = bind.exec_driver_sql("SELECT min(occurred_at) FROM events_old").scalar()
    ensure_months(bind, datetime.now(timezone.utc), since=oldest)
    _move_rows()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    _set_aside()
    op.execute("ALTER TABLE events_old RENAME CONSTRAINT events_org_id_seq_key TO events_old_org_id_seq_key")
    op.execute("CREATE TABLE events (LIKE events_old INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)")
    op.execute("ALTER TABLE events ADD CONSTRAINT events_org_id_seq_key UNIQUE (org_id, seq)")
    for statement in COPY_CONSTRAINTS.format(table="events").strip().splitlines():
        op.execute(statement)
    _move_rows()
