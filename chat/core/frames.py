"""Server-to-client WebSocket frames, encoded once.

A frame from the server is never masked (RFC 6455, 5.1), so the bytes of one message are
the same for every receiver: the broadcaster encodes each message once per dialect and
writes those bytes to every connection. We never negotiate extensions, so there is no
per-connection compression to undo that.
"""

from __future__ import annotations

import json
from typing import Any

# The close codes the server sends (RFC 6455, 7.4.1), declared once.
CLOSE_GOING_AWAY = 1001
#: Never sent: the connection ended without a close frame (what a session's end reports).
CLOSE_ABNORMAL = 1006
#: A client that broke the rules, or whose token or session was refused or revoked.
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
#: Sent to every client when the server drains before a restart (`chat.server.drain`):
#: connect again (to another instance) and resume.
CLOSE_SERVICE_RESTART = 1012

_TEXT_FIN = 0x81  # FIN + opcode 1 (text)


def text_frame(text: str) -> bytes:
    """One complete, unfragmented text frame carrying `text`."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        head = bytes((_TEXT_FIN, size))
    elif size < 1 << 16:
        head = bytes((_TEXT_FIN, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((_TEXT_FIN, 127)) + size.to_bytes(8, "big")
    return head + payload


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(frame: Any) -> str:
    """Compact JSON, non-ASCII text kept as is: the encoding every dialect sends."""
    return _COMPACT.encode(frame)
