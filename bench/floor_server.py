"""The raw floor for fan-out: a minimal Starlette websocket endpoint that pushes the
same bytes Baton sends for one event to every connected socket.

    python -m bench.floor_server PORT

GET /ws (websocket) joins; POST /push {"seq": n} answers at once, then sends a
graphql-transport-ws `next` message to every socket (as a broadcaster would)."""
import asyncio
import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

sockets: set = set()
tasks: set = set()


async def ws_endpoint(websocket):
    await websocket.accept()
    sockets.add(websocket)
    try:
        while True:
            await websocket.receive_text()  # clients send nothing; returns on disconnect
    except Exception:  # noqa: BLE001 - disconnects end the loop
        pass
    finally:
        sockets.discard(websocket)


async def _send_all(message: str):
    for ws in list(sockets):
        try:
            await ws.send_text(message)
        except Exception:  # noqa: BLE001
            sockets.discard(ws)


async def push(request):
    body = await request.json()
    message = json.dumps({"id": "1", "type": "next", "payload": {"data": {"boardEvents": {"seq": body["seq"], "type": "OPPORTUNITY_UPDATED"}}}})
    task = asyncio.get_running_loop().create_task(_send_all(message))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return JSONResponse({"sockets": len(sockets)})


async def healthz(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[WebSocketRoute("/ws", ws_endpoint), Route("/push", push, methods=["POST"]), Route("/healthz", healthz)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws_per_message_deflate=False)
