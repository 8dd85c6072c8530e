"""approval flows: approvers per step, sign modes, conditions, timeouts, actions,
locked fields and their snapshots

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import db.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule', JSON, nullable=True))
        batch_op.add_column(sa.Column('locks', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('snapshot_requested', JSON, nullable=True))
        batch_op.add_column(sa.Column('snapshot_approved', JSON, nullable=True))
        batch_op.add_column(sa.Column('urge_count', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('approval_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_mode', sa.String(length=5), nullable=False, server_default='ANY'))
        batch_op.add_column(sa.Column('min_approvals', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('condition', JSON, nullable=True))
        batch_op.add_column(sa.Column('timeouts', JSON, nullable=True))
        batch_op.add_column(sa.Column('urged_at', db.types.UTCDateTime(), nullable=True))

    op.create_table('approval_approvers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('decided_at', db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['step_id'], ['approval_steps.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('step_id', 'user_id')
    )
    with op.batch_alter_table('approval_approvers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_approvers_step_id'), ['step_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_approvers_user_id'), ['user_id'], unique=False)

    op.create_table('approval_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('approval_id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('target_user_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('at', db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['approval_id'], ['approvals.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['approval_steps.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approval_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_actions_approval_id'), ['approval_id'], unique=False)

    # Steps opened before approvers were recorded: their department's writers decide.
    op.execute(
        "INSERT INTO approval_approvers (step_id, user_id, status) "
        "SELECT s.id, u.id, 'PENDING' FROM approval_steps s JOIN users u ON u.department_id = s.department_id "
        "WHERE s.status = 'PENDING' AND u.role <> 'VIEWER'"
    )


def downgrade() -> None:
    op.drop_table('approval_actions')
    op.drop_table('approval_approvers')
    with op.batch_alter_table('approval_steps', schema=None) as batch_op:
        for column in ('urged_at', 'timeouts', 'condition', 'role', 'min_approvals', 'sign_mode'):
            batch_op.drop_column(column)
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        for column in ('urge_count', 'snapshot_approved', 'snapshot_requested', 'locks', 'rule'):
            batch_op.drop_column(column)
