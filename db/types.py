"""Column types that behave the same on SQLite and PostgreSQL."""
from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

# 64-bit ids for the tables that grow with activity (300 events/s exhaust 32 bits in about
# 14 months). SQLite's INTEGER is 64-bit already, and only "INTEGER PRIMARY KEY" is its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (containment queries on tags), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, always hands back an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
