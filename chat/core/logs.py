"""Where log lines go and what they look like: readable text, or one JSON object per line.

Both formats carry the same information: the time, the level, the logger, the message,
the worker (one of ``chat serve --workers``) and, for the access lines
(`ACCESS_HTTP`, `ACCESS_WS`), structured fields passed with ``extra=``. The text format
appends those fields to the message as ``key=value``; the JSON format makes each a key.

No token or password is ever logged: the access lines name a request's path, never its
query string or headers, and trio-websocket's DEBUG lines, which quote every frame
(``auth <token>`` included), are never shown.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

#: One line per HTTP request (chat.http.access_log); silence it on its own with
#: ``logging.getLogger("chat.access.http").setLevel(logging.WARNING)``.
ACCESS_HTTP = "chat.access.http"
#: One line per WebSocket connection opened, refused and closed (chat.ws.server).
ACCESS_WS = "chat.access.ws"

#: A longer path is cut (with "..."), so that a log line stays a line of sensible length.
MAX_PATH_CHARS = 200

#: The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}

#: The JSON keys the formatter sets itself; an ``extra=`` field of the same name is
#: renamed ``field_<name>`` rather than overwrite them.
_JSON_KEYS = ("time", "level", "logger", "message", "worker", "exception")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed with ``extra=``, in the order given."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES}


def loggable_path(target: str) -> str:
    """A request target as an access line shows it: the path only (a query string may
    hold a token), at most `MAX_PATH_CHARS` characters."""
    path = target.partition("?")[0]
    return path if len(path) <= MAX_PATH_CHARS else path[:MAX_PATH_CHARS] + "..."


def _text_value(value: Any) -> str:
    """A field value for a text line: bare if it is one plain word, else JSON-quoted,
    so that a value can never break the line or fake another field."""
    if type(value) is int:
        return str(value)  # as json.dumps writes it; most fields are ids and counts
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text.isprintable() and text and " " not in text and '"' not in text and "=" not in text:
        return text
    return json.dumps(text)


class TextFormatter(logging.Formatter):
    """``2026-01-31 12:00:00,123 INFO    worker 2 chat.access.ws: WebSocket closed
    client=7 address=10.0.0.5 path=/ws user=alice user_id=3 code=1000 ms=5012.4``"""

    def __init__(self, worker: int | None = None) -> None:
        who = f"worker {worker} " if worker is not None else ""
        super().__init__(f"%(asctime)s %(levelname)-7s {who}%(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = extra_fields(record)
        if not fields:
            return line
        return line + " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, ``worker`` (with ``--workers``), ``exception`` (the traceback, if any),
    then the record's ``extra=`` fields."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self._worker = worker

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        entry: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._worker is not None:
            entry["worker"] = self._worker
        problem = []
        if record.exc_info:
            problem.append(self.formatException(record.exc_info))
        elif record.exc_text:
            problem.append(record.exc_text)
        if record.stack_info:
            problem.append(self.formatStack(record.stack_info))
        if problem:
            entry["exception"] = "\n".join(problem)
        for key, value in extra_fields(record).items():
            entry[f"field_{key}" if key in _JSON_KEYS else key] = value
        # ensure_ascii: a line is plain ASCII whatever a name or path contained.
        return json.dumps(entry, default=str)


def setup_logging(level: str, *, log_format: str = "text", worker: int | None = None) -> None:
    """Send every log line to standard error, in `log_format` (``text`` or ``json``),
    at `level` and above. `worker` is the number of a ``--workers`` process."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter(worker) if log_format == "json" else TextFormatter(worker)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
    # Python's warnings, too, so that in JSON every line of standard error is JSON.
    logging.captureWarnings(True)
    # trio-websocket logs every event at DEBUG, frames' contents included: an ``auth``
    # frame's token, a handshake's ``?token=``. Never shown, whatever the level.
    logging.getLogger("trio-websocket").setLevel(logging.INFO)
