"""Rooms: making, joining and inviting (`operations`), running them (`moderation`), and
the support desk of spec 001 (`support_desk`)."""
