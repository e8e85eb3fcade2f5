"""The core: what the chat is, with no I/O and no tasks.

Records (users, rooms, messages), what a name or a message may be (`names`, `validation`),
who may do what in a room (`room_permissions`), the shapes of HTTP bodies and WebSocket
frames (`shapes`, `frames`, `message_json`), search terms, errors a client can act on,
and the configuration (`config`, the one reader of the environment). Every other part of
`chat` may import the core; the core imports none of them (pyproject.toml's
import-linter contract)."""
