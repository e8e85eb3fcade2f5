"""The network edge: one TCP port for HTTP and WebSocket.

`front_door` accepts connections, caps them per client address (`connection_cap`) and
hands each to HTTP or WebSocket by its first bytes (`replay_stream` gives them back);
`admission` bounds the handshakes in progress; `raw_response` writes whole error answers
below the HTTP and WebSocket servers. It knows neither of them: `chat.server` wires them.
`outbound` is the way out: requests to addresses users give (link previews, webhooks),
never to this network's own."""
