"""Support threads: the ones waiting for an operator, and whom "answer the latest"
answers."""

from __future__ import annotations

from chat.core.records import Message, WaitingThread
from chat.store.shared.rooms import room_from_row
from chat.store.shared.rows import Row, ToDatetime

#: Support threads waiting for an operator: the thread, its user's name and its latest
#: message, which is the user's. Both stores run this same query.
WAITING_SUPPORT_THREADS_SQL = """
SELECT r.id, r.name, r.kind, r.is_private, r.creator_id, r.created_at,
       NULL AS low_user_id, NULL AS high_user_id, u.name AS user_name,
       m.id AS message_id, m.body AS message_body, m.created_at AS message_created_at
FROM rooms AS r
JOIN users AS u ON u.id = r.creator_id
JOIN messages AS m ON m.id = (SELECT max(id) FROM messages WHERE room_id = r.id)
WHERE r.kind = 'support' AND m.sender_id = r.creator_id
ORDER BY m.id
LIMIT {limit}
"""


def waiting_thread_from_row(row: Row, to_datetime: ToDatetime) -> WaitingThread:
    room = room_from_row(row, to_datetime)
    assert room is not None and room.creator_id is not None
    message = Message(
        id=row["message_id"],
        room_id=room.id,
        sender_id=room.creator_id,
        sender_name=row["user_name"],
        body=row["message_body"],
        created_at=to_datetime(row["message_created_at"]),
    )
    return WaitingThread(room, row["user_name"], message)


#: The user whose support thread holds the newest message that is either from that
#: user or from the operator {operator}: whom "answer the latest thread" answers.
LATEST_SUPPORT_USER_SQL = """
SELECT r.creator_id
FROM messages AS m JOIN rooms AS r ON r.id = m.room_id
WHERE r.kind = 'support' AND (m.sender_id = r.creator_id OR m.sender_id = {operator})
ORDER BY m.id DESC
LIMIT 1
"""
