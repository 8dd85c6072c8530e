"""attachments: files on deals (content-addressed on disk, db/files.py) and each stage's
required_files (attachment kinds a card needs to enter it)

Existing stages require no files; new organizations' Proposal stage requires a quote
(resolvers/setup.py).

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import db.types

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('required_files', JSON, nullable=False, server_default='[]'))
    op.create_table(
        'attachments',
        sa.Column('id', db.types.BigId, nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('opportunity_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_attachments_opportunity_id', 'attachments', ['opportunity_id'])


def downgrade() -> None:
    op.drop_index('ix_attachments_opportunity_id', table_name='attachments')
    op.drop_table('attachments')
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('required_files')
