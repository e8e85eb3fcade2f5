"""Web Push (RFC 8030, 8291, 8292): telling users of messages while they are away.

An adapter: `vapid` (the server's key pair, one for the whole cluster), `payload` (what a
push says) and `sender` (encrypting, signing and sending one push). The push services the
server may send to are configuration (`chat.core.push_hosts`); who is pushed which message,
and registering browsers, are the application's (`chat.app.people.pusher`,
`chat.app.people.push_subscriptions`).
"""
