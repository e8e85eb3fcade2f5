"""WebSocket, a front door: the upgrade server (`server`), the transport under each
connection (`transport`, `stream`, `standins`, `socket_wait`), each client's session
(`session/`), and one adapter per protocol dialect over the same `ChatService`
(`tokentalker`, `rooms`, `support`, `direct`; `dispatch` routes each frame). It does not
know the HTTP door (`chat.http`)."""
