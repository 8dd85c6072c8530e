"""assignment rules, the shared pool (公海) on opportunities, and each stage's automatic return

Revision ID: 0019
Revises: 0018
"""
from alembic import op
import sqlalchemy as sa

import db.types

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'assignment_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('match', db.types.JSONType, nullable=False),
        sa.Column('target', db.types.JSONType, nullable=False),
        sa.Column('strategy', sa.String(length=12), nullable=False),
        sa.Column('capacity', sa.Integer(), nullable=True),
        sa.Column('rr_cursor', sa.Integer(), nullable=False),
        sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('org_id', 'position'),
    )
    op.create_index('ix_assignment_rules_org_id', 'assignment_rules', ['org_id'])
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pooled_at', db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('pool_department_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', db.types.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key('fk_opportunities_pool_department_id', 'departments', ['pool_department_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pool_after_days', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('pool_after_days')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_constraint('fk_opportunities_pool_department_id', type_='foreignkey')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('pool_department_id')
        batch_op.drop_column('pooled_at')
    op.drop_index('ix_assignment_rules_org_id', table_name='assignment_rules')
    op.drop_table('assignment_rules')
