"""how far back each organization's event log reaches: the highest seq retention removed,
so a cursor older than what is kept answers RESYNC_REQUIRED (db/retention.py)

Revision ID: 0023_events_removed_through
Revises: 0022_opportunity_source
"""
from alembic import op
import sqlalchemy as sa

revision = '0023_events_removed_through'
down_revision = '0022_opportunity_source'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('events_removed_through', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('events_removed_through')
