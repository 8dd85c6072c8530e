"""settings: one-time links (first-run setup, invitations, password resets), deactivated
users, archived departments and stages

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

import db.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'one_time_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('role', sa.String(length=10), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
        sa.Column('expires_at', db.types.UTCDateTime(), nullable=False),
        sa.Column('used_at', db.types.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_one_time_links_org_id', 'one_time_links', ['org_id'])
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', db.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', db.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')
    op.drop_index('ix_one_time_links_org_id', table_name='one_time_links')
    op.drop_table('one_time_links')
