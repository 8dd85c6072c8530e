"""export_tickets: used download links (single use across processes)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import db.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('export_tickets',
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('expires_at', db.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )
    with op.batch_alter_table('export_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_tickets_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('export_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_tickets_expires_at'))

    op.drop_table('export_tickets')
