"""stage work: a stage's owner, its deliverables, and the ticks on each card

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import db.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', JSON, nullable=True))
        batch_op.add_column(sa.Column('deliverables', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('require_previous_deliverables', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('deliverable_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('stage_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.Column('done_at', db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stage_id'], ['stages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['done_by_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('opportunity_id', 'stage_id', 'key')
    )
    with op.batch_alter_table('deliverable_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliverable_checks_opportunity_id'), ['opportunity_id'], unique=False)


def downgrade() -> None:
    op.drop_table('deliverable_checks')
    with op.batch_alter_table('stages', schema=None) as batch_op:
        for column in ('require_previous_deliverables', 'deliverables', 'owner'):
            batch_op.drop_column(column)
