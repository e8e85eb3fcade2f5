"""Full-text search (sql/sqlite/0017_search.sql, sql/postgres/0018_search.sql): what both
stores share. Each store finds candidates with its own index (FTS5's trigrams, pg_trgm's)
and both restrict them the same way: to the rooms the user may read now, present text
only (no tombstones), newest first.

The query's words reach the database only as bound values, never as query syntax: an
FTS5 string with its quotes doubled, a LIKE pattern with its wildcards escaped.
"""

from __future__ import annotations

#: The rooms a user may read: the lobby, the rooms they are a member of (their direct
#: conversations and their own support thread among them) and, for an operator
#: ({admin} true), every support thread. Read at query time, so a user who has left a
#: room finds nothing of it any more.
READABLE_ROOMS_SQL = """
SELECT id FROM rooms WHERE kind = 'lobby' OR ({admin} AND kind = 'support')
UNION
SELECT room_id FROM room_members WHERE user_id = {user}
"""


def fts5_string(word: str) -> str:
    """`word` as an FTS5 string: in double quotes, its own double quotes doubled, so
    that every character in it is text (no operator, column filter or prefix star)."""
    return '"' + word.replace('"', '""') + '"'


def like_pattern(word: str) -> str:
    """A LIKE pattern that matches `word` anywhere (its wildcards escaped with the
    default escape character, the backslash)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
