"""WebSocket: the upgrade server, per-client sessions, and one module per protocol dialect."""
