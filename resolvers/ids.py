"""Relay global ids: base64("Type:pk"), opaque to clients."""
import base64
import binascii

from resolvers.errors import NOT_FOUND, fail
from resolvers.paging import MAX_BIG_KEY, MAX_KEY, parse_key

# Node types kept in 64-bit tables (db/types.BigId).
BIG_ID_TYPES = frozenset({"Comment", "Notification", "WebhookDelivery", "ChannelDelivery", "Attachment"})


def to_global(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def parse_global(gid: str) -> tuple[str, int] | None:
    """(type name, primary key), or None when `gid` is not one of our ids (a key out
    of its table's id range included: no row has it)."""
    try:
        type_name, _, pk = base64.b64decode(gid, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    key = parse_key(pk, MAX_BIG_KEY if type_name in BIG_ID_TYPES else MAX_KEY)
    return None if key is None else (type_name, key)


def decode(gid: str, type_name: str, field: str) -> int:
    """The primary key behind `gid`, or a NOT_FOUND user error naming `field`."""
    parsed = parse_global(gid) if isinstance(gid, str) else None
    if parsed is None or parsed[0] != type_name:
        fail(NOT_FOUND, "No {type_name} with id {gid!r}", field, type_name=type_name, gid=gid)
    return parsed[1]
