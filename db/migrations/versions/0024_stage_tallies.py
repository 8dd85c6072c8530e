"""cards and amounts per stage and currency kept as they change (db/tallies.py): the board's
column totals and analytics read a few rows instead of aggregating every card

Triggers on `opportunities` append a row (+1 / -1 card and its amount) for every insert, delete
and change of stage, currency or amount; the alerts round folds the rows of each stage and
currency into one. On SQLite a batch (copy-and-move) ALTER of `opportunities` drops its
triggers: a later migration that alters the table that way must create them again (the
statements below); tests/api/test_stage_tallies.py fails at head if they are missing.

Revision ID: 0024_stage_tallies
Revises: 0023_events_removed_through
"""
from alembic import op
import sqlalchemy as sa

revision = '0024_stage_tallies'
down_revision = '0023_events_removed_through'
branch_labels = None
depends_on = None

COLUMNS = "stage_id, currency, cards, amount, with_amount"
CHANGED = "OLD.stage_id IS DISTINCT FROM NEW.stage_id OR OLD.currency IS DISTINCT FROM NEW.currency OR OLD.amount IS DISTINCT FROM NEW.amount"

POSTGRES = [
    f"""CREATE FUNCTION stage_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO stage_tallies ({COLUMNS}) VALUES (OLD.stage_id, OLD.currency, -1, -coalesce(OLD.amount, 0), -(OLD.amount IS NOT NULL)::int);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO stage_tallies ({COLUMNS}) VALUES (NEW.stage_id, NEW.currency, 1, coalesce(NEW.amount, 0), (NEW.amount IS NOT NULL)::int);
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER opportunities_tally AFTER INSERT OR DELETE ON opportunities FOR EACH ROW EXECUTE FUNCTION stage_tally()",
    f"""CREATE TRIGGER opportunities_tally_change AFTER UPDATE OF stage_id, currency, amount ON opportunities
FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION stage_tally()""",
]
_ADD = f"INSERT INTO stage_tallies ({COLUMNS}) VALUES (NEW.stage_id, NEW.currency, 1, coalesce(NEW.amount, 0), NEW.amount IS NOT NULL);"
_REMOVE = f"INSERT INTO stage_tallies ({COLUMNS}) VALUES (OLD.stage_id, OLD.currency, -1, -coalesce(OLD.amount, 0), -(OLD.amount IS NOT NULL));"
SQLITE = [
    f"CREATE TRIGGER opportunities_tally_insert AFTER INSERT ON opportunities BEGIN {_ADD} END",
    f"CREATE TRIGGER opportunities_tally_delete AFTER DELETE ON opportunities BEGIN {_REMOVE} END",
    f"""CREATE TRIGGER opportunities_tally_change AFTER UPDATE OF stage_id, currency, amount ON opportunities
WHEN {CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN {_REMOVE} {_ADD} END""",
]


def create_triggers() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        'stage_tallies',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True),
        # No foreign key: deleting a stage deletes its cards, whose triggers add rows for it.
        sa.Column('stage_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('cards', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Numeric(24, 2), nullable=False),
        sa.Column('with_amount', sa.Integer(), nullable=False),
    )
    op.create_index('ix_stage_tallies_stage', 'stage_tallies', ['stage_id', 'currency'])
    op.execute(f"INSERT INTO stage_tallies ({COLUMNS}) SELECT stage_id, currency, count(*), coalesce(sum(amount), 0), count(amount) "
               "FROM opportunities GROUP BY stage_id, currency")
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("opportunities_tally_insert", "opportunities_tally_delete", "opportunities_tally_change"):
            op.execute(f"DROP TRIGGER {name}")
    else:
        op.execute("DROP TRIGGER opportunities_tally ON opportunities")
        op.execute("DROP TRIGGER opportunities_tally_change ON opportunities")
        op.execute("DROP FUNCTION stage_tally()")
    op.drop_index('ix_stage_tallies_stage', table_name='stage_tallies')
    op.drop_table('stage_tallies')
