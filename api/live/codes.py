"""Websocket close codes, defined once (docs/operations.md lists them for clients).

Strawberry sends the protocol's own codes itself; they are named here so Baton's
code and tests say what they mean. Several reasons share 4429, so the closes
Baton sends are (code, reason) pairs."""
from enum import IntEnum
from typing import NamedTuple


class CloseCode(IntEnum):
    BAD_REQUEST = 4400  # Strawberry: a malformed message or connection_init payload
    UNAUTHORIZED = 4401  # Strawberry: `subscribe` before `connection_init` was acknowledged
    FORBIDDEN = 4403  # Strawberry: on_ws_connect refused the connection (no valid token); Baton: token revoked
    INIT_TIMEOUT = 4408  # Strawberry: no `connection_init` within the timeout
    SUBSCRIBER_EXISTS = 4409  # Strawberry: a second `subscribe` with an operation id in use
    TOO_MANY = 4429  # Baton: slow consumer, rate limits; Strawberry: a second `connection_init`


class Close(NamedTuple):
    code: CloseCode
    reason: str


SLOW_CONSUMER = Close(CloseCode.TOO_MANY, "Subscriber too slow; resubscribe with `after`")
SLOW_READER = Close(CloseCode.TOO_MANY, "Socket not reading: too much data waiting; resubscribe with `after`")
TOO_MANY_SOCKETS = Close(CloseCode.TOO_MANY, "Too many open connections for this user")
NO_INIT = Close(CloseCode.INIT_TIMEOUT, "Connection initialisation timeout")  # the text Strawberry sends
TOKEN_REVOKED = Close(CloseCode.FORBIDDEN, "Token revoked or expired; sign in again")
