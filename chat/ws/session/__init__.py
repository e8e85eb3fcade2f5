"""One WebSocket client's session: the `ClientSession` (`client_session`) and the parts
it owns: its outbox (`outbox`), its frame limits (`limits`, `frame_limits`), the order of
its answers (`requests`, `request_order`), frames held back during a resume
(`held_frames`) and how it closes (`closing`); `contracts` says what it needs of the
objects around it."""
