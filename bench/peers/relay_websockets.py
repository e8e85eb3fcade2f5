"""The reference peer: a minimal TokenTalker relay on the `websockets` package (asyncio).

It speaks the same protocol as chat's "/" endpoint, the way a competent minimal server
would write it: tokens checked with PyJWT (same secret, HS256), history kept in memory,
and broadcasts with `websockets.broadcast`, which encodes a frame once and writes it to
every connection without awaiting any of them. No database: it persists nothing, which
is what our server is measured against.

    python relay_websockets.py --port 9100 --secret SECRET
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json

import jwt
from websockets.asyncio.server import ServerConnection, broadcast, serve

clients: set[ServerConnection] = set()
history: collections.deque[str] = collections.deque(maxlen=100)
SECRET = ""


def system(text: str, error: bool = False) -> str:
    frame: dict[str, object] = {"name": "server", "message": text, "system": True}
    if error:
        frame["error"] = text
    return json.dumps(frame)


async def handler(ws: ServerConnection) -> None:
    clients.add(ws)
    name = None
    try:
        async for raw in ws:
            try:
                frame = json.loads(raw)
                text = frame["message"]
            except (ValueError, KeyError, TypeError):
                await ws.send(system("bad frame", error=True))
                continue
            command, _, argument = text.partition(" ")
            if command == "auth":
                try:
                    name = jwt.decode(argument, SECRET, algorithms=["HS256"])["name"]
                except jwt.InvalidTokenError:
                    await ws.send(system("invalid token", error=True))
                    continue
                await ws.send(system(f"authorized as {name}"))
            elif command == "history":
                for item in list(history)[-int(argument) :]:
                    await ws.send(item)
            elif name is None:
                await ws.send(system("not authorized", error=True))
            else:
                out = json.dumps({"name": name, "message": text})
                history.append(out)
                broadcast(clients - {ws}, out)
    finally:
        clients.discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_queue=None, compression=None):
        print(f"listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    SECRET = args.secret
    asyncio.run(main(args.port))
