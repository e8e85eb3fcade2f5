"""Slash commands and outgoing webhooks: a room's registrations (`registry`), the texts
read as commands, built-in (`built_ins`) or registered (`dispatch`), and the signed
requests to the receivers, in a task of their own (`calls`)."""
