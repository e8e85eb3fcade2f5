"""Web Push (RFC 8030, 8291, 8292): telling users of messages while they are away.

- `hosts`: the push services the server may send to (`CHAT_PUSH_HOSTS`);
- `vapid`: the server's key pair, one for the whole cluster;
- `subscriptions`: registering browsers (the HTTP routes' side);
- `payload`: what a push says;
- `sender`: encrypting, signing and sending one push;
- `pusher`: the task that decides who is pushed which message, once per cluster.

The modules are imported by name (`chat.core.config` reads `hosts` and `vapid`, which must
not pull in the store).
"""
