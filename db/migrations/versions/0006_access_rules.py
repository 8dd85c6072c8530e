"""access rules: data scopes and hidden fields per role and department; event
snapshots; the identity a webhook endpoint acts as

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import db.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('access_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('department_key', sa.String(length=40), nullable=False),
    sa.Column('scope', sa.String(length=12), nullable=False),
    sa.Column('hidden_fields', JSON, nullable=False),
    sa.Column('updated_at', db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'role', 'department_key')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snapshot', JSON, nullable=True))
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acts_as_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_webhooks_acts_as_id_users', 'users', ['acts_as_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_webhooks_acts_as_id_users', type_='foreignkey')
        batch_op.drop_column('acts_as_id')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('snapshot')
    op.drop_table('access_rules')
