"""contacts (联系人), their roles on deals, follow-ups (跟进记录), and each card's last
contact and next planned follow-up

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

import db.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_contact_at', db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_follow_up_at', db.types.UTCDateTime(), nullable=True))
    op.create_table(
        'contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=True),
        sa.Column('phone', sa.String(length=40), nullable=True),
        sa.Column('phone_key', sa.String(length=40), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('email_key', sa.String(length=254), nullable=True),
        sa.Column('wechat', sa.String(length=100), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
        sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        # NULL keys never collide (on PostgreSQL and SQLite alike).
        sa.UniqueConstraint('org_id', 'phone_key'),
        sa.UniqueConstraint('org_id', 'email_key'),
    )
    op.create_index('ix_contacts_account_id', 'contacts', ['account_id'])
    op.create_table(
        'opportunity_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('opportunity_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('opportunity_id', 'contact_id'),
    )
    op.create_index('ix_opportunity_contacts_contact_id', 'opportunity_contacts', ['contact_id'])
    op.create_table(
        'follow_ups',
        sa.Column('id', db.types.BigId, nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('opportunity_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('at', db.types.UTCDateTime(), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('outcome', sa.String(length=1000), nullable=True),
        sa.Column('next_step', sa.String(length=500), nullable=True),
        sa.Column('next_follow_up_at', db.types.UTCDateTime(), nullable=True),
        sa.Column('created_at', db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_follow_ups_opportunity_id', 'follow_ups', ['opportunity_id'])


def downgrade() -> None:
    op.drop_index('ix_follow_ups_opportunity_id', table_name='follow_ups')
    op.drop_table('follow_ups')
    op.drop_index('ix_opportunity_contacts_contact_id', table_name='opportunity_contacts')
    op.drop_table('opportunity_contacts')
    op.drop_index('ix_contacts_account_id', table_name='contacts')
    op.drop_table('contacts')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_column('next_follow_up_at')
        batch_op.drop_column('last_contact_at')
