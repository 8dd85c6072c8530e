"""each card's last contact kind (电话, 拜访, ...), so the board's card line reads
"3 天前 · 电话" without a statement per card; filled from each card's latest follow-up

Revision ID: 0021
Revises: 0020
"""
from alembic import op
import sqlalchemy as sa

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_contact_kind', sa.String(length=10), nullable=True))
    op.execute(
        "UPDATE opportunities SET last_contact_kind = ("
        " SELECT f.kind FROM follow_ups f WHERE f.opportunity_id = opportunities.id"
        " ORDER BY f.at DESC, f.id DESC LIMIT 1)"
        " WHERE last_contact_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_column('last_contact_kind')
