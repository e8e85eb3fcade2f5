"""One WebSocket client's session: the `ClientSession` and the parts it owns.

A session is an object per connection, and idle connections are counted in the
thousands: the session holds only what every connection needs, and each part is made
the first time it is needed (most connections, most of the time, have none). Each part
is handed what it works on when the session makes it, or with each call; none reaches
into the session's state, and each is tested alone (tests/test_session_parts.py,
test_outbox.py, test_request_order.py).

- `client_session`: `ClientSession`, the receive loop while idle, the subscriptions,
  and what the dialects and the broadcaster call (handed on to the parts);
- `busy`: `BusySpell`, the session while it has tasks: its open nursery, the receive
  loop beside them, the tasks started in it. `inbox`: `Inbox`, the frames received and
  not yet handled, while the handler task runs;
- `outbox`: `Outbox`, the frames on their way to the client (written now, or queued for
  a writer task), eviction of a slow consumer, the close frame;
- `request_order`: `RequestOrder`, the requests answered as tasks of their own, in
  request order, reading the client's own writes; `send_answer` writes an answer;
- `limits`: `FrameAllowances`, the client's frames counted against the server's frame
  limits (`frame_limits`: `FrameLimits`, one per server), and its refusals;
- `closing`: `ServerClose`, the server's decision to close the connection; how a
  session ends and with which close code;
- `held_frames`: `HeldFrames`, a subscription held back during a resume;
- `contracts`: what a session needs of its connection, its dialect and its registries.

Tasks, all inside `ClientSession.run`, all but the first in the session's nursery, which
`run` opens only while there is a task to run in it:

- the *receive loop*, the session's own task, reads the client's frames. It is always
  reading, so it notices a disconnect at once, even while a request is being handled.
  While the session has no other task it waits outside any nursery: *idle*. A frame, or
  a task wanted from outside (the outbox's writer: `ClientSession.start_task` wakes the
  wait), makes it *busy* until the last task ends;
- the *handler* takes frames from the inbox one at a time, in order, and hands them to
  the dialect. It is started by a frame that finds none running, and ends once the inbox
  is empty: a connection that has entered its room and now only listens keeps no second
  task;
- the *writer* (the outbox's) writes what is queued for the client. It is started when a
  frame has to wait, and ends once its queue has been empty for a while;
- *request tasks* (`ClientSession.launch_request`), a few at once; a disconnect cancels
  them (`ClientSession.bound_to_client`).

Frames pass from the receive loop to the handler through the inbox (bounded: past it the
loop reads no more, and TCP pushes back on the client), and from the handler and the
broadcaster to the writer through the outbox (bounded: the handler waits for room, the
broadcaster never waits, and a client whose outbox is full is evicted with 1008).
"""
