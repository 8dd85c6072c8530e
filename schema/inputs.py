"""Turn Strawberry input objects into the plain dicts resolvers take."""
import dataclasses
from enum import Enum

from strawberry.types.unset import UnsetType


def plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_data(obj) -> dict:
    """Fields the client sent (UNSET ones left out), snake_case keys, enums as strings."""
    if obj is None:
        return {}
    return {
        f.name: plain(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if not isinstance(getattr(obj, f.name), UnsetType)
    }
