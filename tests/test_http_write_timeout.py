"""Clients that stop reading an HTTP response: a write the client does not take within
``CHAT_WRITE_TIMEOUT`` drops the connection, and with it what the response held (an
export's slot, a download's file). Each client here is a raw socket with a small receive
buffer that reads the response's head and then nothing, in front of a body large enough
to fill both ends' socket buffers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import trio
from files_support import upload
from support import STEP, Account, Server, account, http_client, server_config, start_server

#: The test servers' write timeout: short, so that the tests are.
WRITE_TIMEOUT = 1.0
#: A body larger than the kernel lets a connection buffer (the sender's buffer grows to
#: 4 MiB at most by default, net.ipv4.tcp_wmem), and incompressible.
LARGE = 12 * 1024 * 1024


async def stalled_reader(
    server: Server, user: Account, path: str, sock: trio.socket.SocketType
) -> int:
    """Ask for `path` on `sock`, read the response's head, and stop reading; how many
    bytes of the body came with the head."""
    # Before connecting, so that the window it offers stays small.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect((server.host, server.port))
    auth = "".join(f"{name}: {value}\r\n" for name, value in user.auth.items())
    await sock.send(
        f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n{auth}\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = await sock.recv(1024)
        assert data, head
        head += data
    assert head.startswith(b"HTTP/1.1 200 "), head
    return len(head) - head.index(b"\r\n\r\n") - 4


async def read_to_the_end(sock: trio.socket.SocketType) -> int:
    """Read what the connection still holds until it closes; how many bytes that was."""
    total = 0
    while True:
        try:
            data = await sock.recv(256 * 1024)
        except ConnectionResetError:
            return total
        if not data:
            return total
        total += len(data)


async def test_stalled_export_readers_are_dropped_and_their_slots_given_back(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    config = server_config(
        tmp_path, None, exports_at_once=2, write_timeout=WRITE_TIMEOUT, max_file_bytes=LARGE
    )
    server = await start_server(nursery, config)
    alice, carol = await account(server, "alice"), await account(server, "carol")
    await upload(server, alice, os.urandom(LARGE), "big.bin")
    # Closed at the end whatever happens: a server still writing to them would not stop.
    with trio.socket.socket() as first, trio.socket.socket() as second:
        read = [await stalled_reader(server, alice, "/me/export", s) for s in (first, second)]
        async with http_client(server) as client:
            refused = await client.get("/me/export", headers=carol.auth)
            assert refused.status_code == 503, refused.text  # both slots are held
            started = trio.current_time()
            with trio.fail_after(WRITE_TIMEOUT + STEP):
                while True:  # until a slot is given back
                    answer = await client.get("/me/export", headers=carol.auth)
                    if answer.status_code != 503:
                        break
                    await trio.sleep(0.1)
            assert answer.status_code == 200, answer.text
            assert trio.current_time() - started >= WRITE_TIMEOUT / 2
        for sock, already in zip((first, second), read, strict=True):
            with trio.fail_after(STEP):
                # What was in flight, then the end: never the whole archive.
                assert already + await read_to_the_end(sock) < LARGE


async def test_a_stalled_download_is_dropped(nursery: trio.Nursery, tmp_path: Path) -> None:
    config = server_config(tmp_path, None, write_timeout=WRITE_TIMEOUT, max_file_bytes=LARGE)
    server = await start_server(nursery, config)
    alice = await account(server, "alice")
    file = await upload(server, alice, os.urandom(LARGE), "big.bin")
    with trio.socket.socket() as sock:
        already = await stalled_reader(server, alice, f"/files/{file['FileID']}/big.bin", sock)
        await trio.sleep(WRITE_TIMEOUT + 1.0)
        with trio.fail_after(STEP):
            # Had the server kept waiting, reading now would bring the whole file.
            assert already + await read_to_the_end(sock) < LARGE
