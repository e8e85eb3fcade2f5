"""README's Python example, run as written against a real server: it must return, with
an empty lobby as with a full one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import trio
from support import STEP, Server, open_clients, register

_README = Path(__file__).parent.parent / "README.md"


def _python_example() -> str:
    """The README's first ```python block."""
    match = re.search(r"```python\n(.*?)```", _README.read_text(encoding="utf-8"), re.S)
    assert match is not None, "README.md has no Python example"
    return match.group(1)


async def _run_example(server: Server, token: str) -> str:
    code = _python_example()
    assert "ws://127.0.0.1:9000/" in code and 'trio.run(main, "eyJ...")' in code
    code = code.replace("ws://127.0.0.1:9000/", server.ws("/"))
    code = code.replace('trio.run(main, "eyJ...")', f"trio.run(main, {token!r})")
    with trio.fail_after(STEP * 4):
        result = await trio.run_process(
            [sys.executable, "-c", code], capture_stdout=True, capture_stderr=True, check=False
        )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def test_the_readme_example_returns_on_an_empty_lobby(server: Server) -> None:
    token = await register(server, "alice")
    output = await _run_example(server, token)
    assert output.splitlines() == [
        '{"name":"server","message":"authorized as alice","system":true}'
    ]


async def test_the_readme_example_prints_the_lobby_history(server: Server) -> None:
    bob = await register(server, "bob")
    async with open_clients(server) as clients:
        talker = await clients.talker(token=bob, name="bob")
        await talker.say("hello from bob")
        await talker.stored()
    output = await _run_example(server, await register(server, "alice"))
    lines = output.splitlines()
    assert len(lines) == 2
    assert "'message': 'hello from bob'" in lines[1]
