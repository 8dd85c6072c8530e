"""64-bit ids and sequence numbers for the tables that grow with activity (the event
log, notifications, deliveries, decisions, alerts, comments). SQLite's INTEGER is 64-bit
already; on PostgreSQL each ALTER rewrites its table under an exclusive lock, so large
installations run this migration in a maintenance window (docs/operations.md).

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

COLUMNS = {
    'events': ('id', 'seq', 'comment_id'),
    'notifications': ('id', 'event_seq'),
    'webhook_deliveries': ('id', 'event_seq'),
    'channel_deliveries': ('id', 'event_seq'),
    'approval_actions': ('id',),
    'alerts': ('id',),
    'comments': ('id',),
    'organizations': ('event_seq',),
    'webhooks': ('cursor_seq',),
    'channel_cursors': ('event_seq',),
}


def _alter(to_type) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, columns in COLUMNS.items():
        # One ALTER TABLE per table: PostgreSQL rewrites it once for all its columns.
        op.execute(
            f'ALTER TABLE {table} '
            + ', '.join(f'ALTER COLUMN {column} TYPE {to_type}' for column in columns)
        )
        if 'id' in columns:
            op.execute(f'ALTER SEQUENCE IF EXISTS {table}_id_seq AS {to_type}')


def upgrade() -> None:
    _alter('BIGINT')


def downgrade() -> None:
    _alter('INTEGER')
