"""customer silence: each stage's silence_after_hours (an open card without a follow-up
for this long alerts its owner; null: never)

Existing organizations get the default pipeline's setting, 48 hours, on their stages
keyed proposal, negotiation and contract (stages an admin renamed keep their key, so
they are included; other stages stay null, as do stages of other keys).

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

DEFAULT_HOURS = 48
DEFAULT_KEYS = ('proposal', 'negotiation', 'contract')


def upgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silence_after_hours', sa.Integer(), nullable=True))
    stages = sa.table('stages', sa.column('key', sa.String), sa.column('silence_after_hours', sa.Integer))
    op.execute(stages.update().where(stages.c.key.in_(DEFAULT_KEYS)).values(silence_after_hours=DEFAULT_HOURS))


def downgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('silence_after_hours')
