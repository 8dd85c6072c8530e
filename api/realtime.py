"""Live fan-out: publishes committed events on a per-organization broadcast channel."""
import json
import logging

from broadcaster import Broadcast

log = logging.getLogger("baton.realtime")


def channel(org_id: int) -> str:
    return f"baton_org_{org_id}"


class Hub:
    def __init__(self, broadcast_url: str):
        self.broadcast = Broadcast(broadcast_url)

    async def connect(self) -> None:
        await self.broadcast.connect()

    async def disconnect(self) -> None:
        await self.broadcast.disconnect()

    async def publish(self, org_id: int, message: dict) -> None:
        await self.broadcast.publish(channel(org_id), json.dumps(message))
