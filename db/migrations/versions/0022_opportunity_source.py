"""each deal's source (线索来源: 展会, 官网, 转介绍, ...), which assignment rules may match on

Revision ID: 0022_opportunity_source
Revises: 0021
"""
from alembic import op
import sqlalchemy as sa

revision = '0022_opportunity_source'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_column('source')
