"""notification channels (email, Feishu, DingTalk, WeCom), their deliveries and cursor,
per-user preferences, and per-organization escalation rules

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _fk(column, target, ondelete='CASCADE'):
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], ondelete=ondelete)


def upgrade() -> None:
    op.create_table('notification_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('target', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=True),
    sa.Column('kinds', JSON, nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('failing_since', db.types.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
    _fk('org_id', 'organizations'), _fk('department_id', 'departments'), _fk('user_id', 'users'),
    _fk('created_by_id', 'users', 'SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_channels_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_channels_user_id'), ['user_id'], unique=False)

    op.create_table('channel_cursors',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    _fk('org_id', 'organizations'),
    sa.PrimaryKeyConstraint('org_id'),
    )

    op.create_table('channel_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('event_seq', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', db.types.UTCDateTime(), nullable=True),
    sa.Column('last_attempt_at', db.types.UTCDateTime(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('delivered_at', db.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
    _fk('org_id', 'organizations'), _fk('channel_id', 'notification_channels'), _fk('user_id', 'users'),
    sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('channel_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_deliveries_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_channel_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_channel_deliveries_log', ['channel_id', 'id'], unique=False)

    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('routes', JSON, nullable=False),
    sa.Column('time_zone', sa.String(length=60), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=True),
    sa.Column('quiet_end', sa.String(length=5), nullable=True),
    sa.Column('digest_time', sa.String(length=5), nullable=True),
    sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
    _fk('user_id', 'users'), _fk('org_id', 'organizations'),
    sa.PrimaryKeyConstraint('user_id'),
    )
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_preferences_org_id'), ['org_id'], unique=False)

    op.create_table('escalation_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('stage_key', sa.String(length=40), nullable=False),
    sa.Column('alert_after_hours', sa.Integer(), nullable=True),
    sa.Column('managers_after_hours', sa.Integer(), nullable=True),
    sa.Column('admins_after_hours', sa.Integer(), nullable=True),
    sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
    _fk('org_id', 'organizations'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'kind', 'stage_key'),
    )


def downgrade() -> None:
    for table in ('escalation_rules', 'notification_preferences', 'channel_deliveries', 'channel_cursors', 'notification_channels'):
        op.drop_table(table)
