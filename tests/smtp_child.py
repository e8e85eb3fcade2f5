"""An SMTP server (aiosmtpd) in a child process, for tests/mail_server.py: it listens on
127.0.0.1 (an ephemeral port, printed as its first line of output) and writes each mail
it receives to the directory its argument names (``NNNNNN.eml``, written whole). Given a
certificate and its key as well, it offers STARTTLS and refuses mail sent without it.

A child process, not a thread: aiosmtpd runs on asyncio, and trio-asyncio (the
PostgreSQL driver's bridge) replaces asyncio's loop policy in the test process."""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class Keep:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        partial = self.directory / f"{self.count:06d}.part"
        partial.write_bytes(envelope.content)
        partial.rename(partial.with_suffix(".eml"))
        return "250 OK"


async def main(directory: Path, tls: ssl.SSLContext | None) -> None:
    handler = Keep(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, tls_context=tls, require_starttls=tls is not None), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    context = None
    if len(sys.argv) > 2:  # a certificate and its key: offer STARTTLS, and require it
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
    asyncio.run(main(Path(sys.argv[1]), context))
