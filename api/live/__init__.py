"""Live events over websockets. Modules, each using only those above it:

codes      websocket close codes and the reasons Baton closes with
backends   broadcaster backends that reconnect (PostgreSQL LISTEN/NOTIFY, Redis)
socket     the ordered, bounded writer of one websocket; RawWebSocketSend
revocation closing the open websockets of revoked tokens, in every process
hub        Hub: one broadcast subscription and log read per organization, bounded feeds
selection  what a subscription's document says: its plain plan, its data variables
execution  one execution and one serialization per distinct subscription and event
tap        the channel's pump writing shared pages straight to caught-up sockets
transport  the handlers of both protocols tying these together

The hub's contract with the live rules (pages, batches, feeds) is resolvers/feeds.py."""
from api.live.codes import SLOW_CONSUMER, TOO_MANY_SOCKETS
from api.live.execution import install_shared_execution
from api.live.hub import Hub
from api.live.socket import RawWebSocketSend, close_soon
from api.live.transport import LegacyTransportWS, SharedResultsTransportWS

__all__ = [
    "SLOW_CONSUMER",
    "TOO_MANY_SOCKETS",
    "Hub",
    "LegacyTransportWS",
    "RawWebSocketSend",
    "SharedResultsTransportWS",
    "close_soon",
    "install_shared_execution",
]
