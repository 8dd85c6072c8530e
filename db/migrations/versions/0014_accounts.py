"""accounts: customer names re-normalized (NFKC, punctuation, company-form suffixes) and
accounts that now share a name merged; website, tags, owner, version and timestamps on
accounts; ownership conflicts (撞单)

Revision ID: 0014
Revises: 0013
"""
import re
import unicodedata
from collections import defaultdict
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

import db.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


# ---------------------------------------------------------------- the normalization, as of 0014
# A copy of resolvers/accounts.py's normalize_account_name at this revision, kept here so
# the migration gives the same keys whatever the code later becomes.

_LATIN_SUFFIXES = frozenset({
    "co", "ltd", "inc", "llc", "gmbh", "corp", "corporation", "company", "limited", "plc", "ag", "sa",
})
_CJK_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "株式会社", "集团", "公司")


def _tokens(text: str) -> list[str]:
    tokens, current = [], []
    for ch in text:
        if ch.isspace() or unicodedata.category(ch)[0] in "PZSC":
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        tokens.append("".join(current))
    return tokens


def _strip_suffix(tokens: list[str]) -> list[str] | None:
    for k in (1, 2, 3):
        if len(tokens) >= k and "".join(tokens[-k:]) in _LATIN_SUFFIXES:
            return tokens[:-k]
    last = tokens[-1]
    for suffix in _CJK_SUFFIXES:
        if last.endswith(suffix):
            rest = last[:-len(suffix)]
            return tokens[:-1] + ([rest] if rest else [])
    return None


def normalize_account_name(name: str) -> str:
    tokens = _tokens(unicodedata.normalize("NFKC", name).casefold())
    whole = "".join(tokens)
    while tokens:
        stripped = _strip_suffix(tokens)
        if stripped is None:
            break
        tokens = stripped
    return "".join(tokens) or whole


# ---------------------------------------------------------------- steps


def _renormalize_and_merge() -> None:
    """Give every account its new key; accounts of one organization that now share a key
    become the one with the lowest id (the others' deals move to it, then they go)."""
    conn = op.get_bind()
    accounts = sa.table('accounts', sa.column('id', sa.Integer), sa.column('org_id', sa.Integer),
                        sa.column('name', sa.String), sa.column('normalized_name', sa.String))
    opportunities = sa.table('opportunities', sa.column('id', sa.Integer), sa.column('account_id', sa.Integer))
    rows = conn.execute(sa.select(accounts.c.id, accounts.c.org_id, accounts.c.name, accounts.c.normalized_name)
                        .order_by(accounts.c.id)).all()
    groups: dict[tuple[int, str], list] = defaultdict(list)
    for row in rows:
        groups[(row.org_id, normalize_account_name(row.name)[:200])].append(row)
    changed = []
    for (_, key), members in groups.items():
        keep, others = members[0], members[1:]
        if others:
            gone = [o.id for o in others]
            conn.execute(opportunities.update().where(opportunities.c.account_id.in_(gone)).values(account_id=keep.id))
            conn.execute(accounts.delete().where(accounts.c.id.in_(gone)))
        if keep.normalized_name != key:
            changed.append((keep.id, key))
    # Two passes, so that no intermediate state breaks the unique (org_id, normalized_name).
    for account_id, _ in changed:
        conn.execute(accounts.update().where(accounts.c.id == account_id).values(normalized_name=f"\x01{account_id}"))
    for account_id, key in changed:
        conn.execute(accounts.update().where(accounts.c.id == account_id).values(normalized_name=key))


def upgrade() -> None:
    _renormalize_and_merge()
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('website', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('tags', db.types.JSONType, server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('owner_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('created_at', db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', db.types.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key('fk_accounts_owner_id_users', 'users', ['owner_id'], ['id'], ondelete='SET NULL')
    # An existing account was created with its first deal (or now, if it has none).
    op.execute(
        "UPDATE accounts SET created_at = (SELECT MIN(o.created_at) FROM opportunities o WHERE o.account_id = accounts.id)"
    )
    accounts = sa.table('accounts', sa.column('created_at', db.types.UTCDateTime()), sa.column('updated_at', db.types.UTCDateTime()))
    op.get_bind().execute(accounts.update().where(accounts.c.created_at.is_(None)).values(created_at=datetime.now(timezone.utc)))
    op.execute("UPDATE accounts SET updated_at = created_at")
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.alter_column('created_at', existing_type=db.types.UTCDateTime(), nullable=False)
        batch_op.alter_column('updated_at', existing_type=db.types.UTCDateTime(), nullable=False)
    op.create_table(
        'ownership_conflicts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('opened_at', db.types.UTCDateTime(), nullable=False),
        sa.Column('resolved_at', db.types.UTCDateTime(), nullable=True),
        sa.Column('resolved_by_id', sa.Integer(), nullable=True),
        sa.Column('kept_opportunity_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ownership_conflicts_org_id', 'ownership_conflicts', ['org_id'])
    op.create_index('ix_ownership_conflicts_account_id', 'ownership_conflicts', ['account_id'])


def downgrade() -> None:
    """Drops the new columns and table and gives accounts their 0013 keys back (case and
    spacing only: accounts that differ that way share a key under 0014 too, so the old
    keys cannot collide); merged accounts stay merged."""
    conn = op.get_bind()
    accounts = sa.table('accounts', sa.column('id', sa.Integer), sa.column('name', sa.String),
                        sa.column('normalized_name', sa.String))
    changed = []
    for account_id, name, key in conn.execute(sa.select(accounts.c.id, accounts.c.name, accounts.c.normalized_name)).all():
        old_key = re.sub(r"\s+", " ", name).strip().casefold()[:200]
        if old_key != key:
            changed.append((account_id, old_key))
    for account_id, _ in changed:
        conn.execute(accounts.update().where(accounts.c.id == account_id).values(normalized_name=f"\x01{account_id}"))
    for account_id, old_key in changed:
        conn.execute(accounts.update().where(accounts.c.id == account_id).values(normalized_name=old_key))
    op.drop_index('ix_ownership_conflicts_account_id', table_name='ownership_conflicts')
    op.drop_index('ix_ownership_conflicts_org_id', table_name='ownership_conflicts')
    op.drop_table('ownership_conflicts')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_accounts_owner_id_users', type_='foreignkey')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('created_at')
        batch_op.drop_column('version')
        batch_op.drop_column('owner_id')
        batch_op.drop_column('tags')
        batch_op.drop_column('website')
