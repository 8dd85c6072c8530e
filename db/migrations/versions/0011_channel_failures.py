"""channel failures: a notification channel counts its failed deliveries in a row and is
disabled (with when and why) once they reach BATON_CHANNEL_DISABLE_AFTER_FAILURES

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

import db.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consecutive_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('disabled_at', db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('disabled_reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.drop_column('disabled_reason')
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('consecutive_failures')
