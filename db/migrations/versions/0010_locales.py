"""locales: the organization's language and time zone, a user's language, and
notifications that keep their message template so each reader sees their own language

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=10), nullable=False, server_default='en'))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=60), nullable=False, server_default='UTC'))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=10), nullable=True))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('params')
        batch_op.drop_column('template')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
        batch_op.drop_column('locale')
