"""forecast categories on opportunities and targets per owner, department or organization

Revision ID: 0020
Revises: 0019
"""
from alembic import op
import sqlalchemy as sa

import db.types

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forecast_category', sa.String(length=12), nullable=True))
    op.create_table(
        'targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=12), nullable=False),
        sa.Column('scope_key', sa.String(length=40), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('won_amount', sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column('new_qualified_count', sa.Integer(), nullable=True),
        sa.Column('set_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('org_id', 'scope_key', 'period'),
    )
    op.create_index('ix_targets_org_id', 'targets', ['org_id'])


def downgrade() -> None:
    op.drop_index('ix_targets_org_id', table_name='targets')
    op.drop_table('targets')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_column('forecast_category')
