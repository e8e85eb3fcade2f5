"""The application: what the chat does, by feature, over the adapters' interfaces.

`service.ChatService` is the one object the front doors call; behind it each feature has
a package: `messages` (the writer that commits, the broadcaster that fans out, changes,
search, reports, files, mentions), `history` (pages and the windows of recent messages in
memory), `presence` (who is online and typing), `people` (activity, notices, notification
levels, Web Push), `rooms` (operations, moderation, the support desk), `accounts`
(passwords, tokens, sessions, revocations, a user's data) and `limits` (rate limits, the
bcrypt queue). It imports the core and the adapters, never the front doors or the
process."""
