"""How users, rooms and messages look on the wire in specs 003 and 004.

Spec 004 writes its fields in PascalCase (``UID``, ``RoomID``, ``CreatedAt``), spec 003 in
lower case (``from``, ``to``, ``content``). Its HTTP routes and its WebSocket frames share
these shapes, so each lives here once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chat.core.link_previews import PREVIEWS, preview_shape
from chat.core.moderation_records import AuditEntry
from chat.core.records import (
    PINS,
    THREAD,
    Change,
    FileRef,
    Message,
    PinnedMessage,
    Reaction,
    Room,
    StoredFile,
    ThreadSummary,
    User,
    Version,
)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-21T21:24:51.108Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile(user: User) -> dict[str, Any]:
    """The caller's own profile (spec 004 ``GET /profile``), with their display name and
    avatar (null: none), and whether they are a server operator (the browser then shows
    the console)."""
    return public_profile(user) | {"Email": user.email, "Operator": user.is_admin}


def person(user_id: int, name: str) -> dict[str, Any]:
    """A user as others see them: in profiles, search results, presence and typing."""
    return {"UID": user_id, "Username": name}


def public_profile(user: User) -> dict[str, Any]:
    """Anyone's profile as others see it: no e-mail address; the display name and the
    avatar's address (null: none), and whether it is a person's or a bot's (`Kind`)."""
    return person(user.id, user.name) | {
        "DisplayName": user.display_name,
        "AvatarURL": avatar_url(user),
        "Kind": user.kind,
    }


def avatar_url(user: User) -> str | None:
    """Where the user's avatar is served (`chat.http.avatars`): its key in the address,
    so a new avatar is a new address and an old one is never served stale."""
    return None if user.avatar_key is None else avatar_address(user.id, user.avatar_key)


def avatar_address(user_id: int, key: str) -> str:
    return f"/avatars/{user_id}/{key}"


def room(room: Room) -> dict[str, Any]:
    """A room as spec 004 describes it, with its topic and slow mode, its own retention
    in days (null: the server's) and whether it is archived (read-only); a direct room
    also names its two users ("UIDs", lower first), so a client can tell who a
    conversation is with."""
    shape: dict[str, Any] = {
        "RoomID": room.id,
        "Name": room.name,
        "IsPrivate": room.is_private,
        "CreatorUID": room.creator_id,
        "CreatedAt": timestamp(room.created_at),
        "Topic": room.topic,
        "SlowModeSeconds": room.slow_mode_seconds,
        "RetentionDays": room.retention_days,
        "LinkPreviews": room.link_previews,
        "Archived": room.archived,
    }
    if room.pair is not None:
        shape["UIDs"] = list(room.pair)
    return shape


def room_message(message: Message) -> dict[str, Any]:
    """A message of a room as it is now (spec 004 ``GET /messages/{roomID}`` and the /ws
    frame, with the fields this server adds): the sender's own id for it, if it gave one, as
    ``ClientMsgID``; the message it answers, if it is a reply, as ``ReplyTo``; when it
    was last edited as ``EditedAt`` (null: never); ``"Deleted": true`` for a tombstone
    (whose Text is ""); its ``Reactions``; the UIDs its text mentions as ``Mentions``,
    and ``"MentionsRoom": true`` if it mentions every member (@room); the sender's
    display name and avatar's address, if they have them, as ``DisplayName`` and
    ``AvatarURL``; ``"Bot": true`` if a bot account sent it; the root of the thread it
    replies in, if it does, as ``ThreadID``, and ``"AlsoToRoom": true`` if it was also
    sent to the main timeline; the ``Previews`` of its first links, if it has some."""
    shape: dict[str, Any] = {
        "MessageID": message.id,
        "RoomID": message.room_id,
        "UID": message.sender_id,
        "Username": message.sender_name,
        "Text": message.body,
        "CreatedAt": timestamp(message.created_at),
        "EditedAt": None if message.edited_at is None else timestamp(message.edited_at),
        "Reactions": reactions(message.reactions),
        "Mentions": list(message.mentions),
    }
    if message.mentions_room:
        shape["MentionsRoom"] = True
    if message.client_msg_id is not None:
        shape["ClientMsgID"] = message.client_msg_id
    if message.reply_to is not None:
        shape["ReplyTo"] = message.reply_to
    if message.thread_id is not None:
        shape["ThreadID"] = message.thread_id
        if message.also_to_room:
            shape["AlsoToRoom"] = True
    if message.deleted:
        shape["Deleted"] = True
    if message.files:
        shape["Files"] = files(message.files)
    if message.sender_display_name is not None:
        shape["DisplayName"] = message.sender_display_name
    if message.sender_avatar is not None:
        shape["AvatarURL"] = avatar_address(message.sender_id, message.sender_avatar)
    if message.sender_is_bot:
        shape["Bot"] = True
    if message.thread is not None and message.thread.replies:
        shape["Thread"] = thread_summary(message.thread)
    if message.previews and not message.deleted:
        shape["Previews"] = [preview_shape(preview) for preview in message.previews]
    return shape


def thread_summary(summary: ThreadSummary) -> dict[str, Any]:
    """A thread's summary as its root carries it, under ``Thread`` (``LastReplyAt``
    null once no reply shows)."""
    last = summary.last_reply_at
    return {
        "Replies": summary.replies,
        "LastReplyAt": None if last is None else timestamp(last),
        "Participants": list(summary.participants),
    }


def thread_root(root: Message, summary: ThreadSummary) -> dict[str, Any]:
    """A thread's root as a room's list of threads shows it: the message as history
    shows it, with its summary as ``Thread``."""
    return {**room_message(root), "Thread": thread_summary(summary)}


def files(refs: tuple[FileRef, ...]) -> list[dict[str, Any]]:
    """A message's files as frames carry them (only when it carries some): an image has
    ``Width`` and ``Height`` (and a thumbnail)."""
    shaped = []
    for ref in refs:
        shape: dict[str, Any] = {
            "FileID": ref.id,
            "Name": ref.name,
            "Size": ref.size,
            "ContentType": ref.content_type,
        }
        if ref.width is not None and ref.height is not None:
            shape["Width"] = ref.width
            shape["Height"] = ref.height
        shaped.append(shape)
    return shaped


def uploaded(file: StoredFile) -> dict[str, Any]:
    """What ``POST /files`` answers: the file's id, and what the server made of it."""
    shape = {**files((file.ref,))[0], "SHA256": file.sha256}
    return shape


def reactions(state: tuple[Reaction, ...]) -> list[dict[str, Any]]:
    """A message's reactions: each emoji with how many reacted and (the first of) who."""
    return [{"Emoji": r.emoji, "Count": r.count, "UIDs": list(r.uids)} for r in state]


def change(change: Change) -> dict[str, Any]:
    """A change to a message as the room protocol frames it: ``edited`` (the new Text,
    EditedAt), ``deleted``, ``reactions`` (the whole reaction state), ``pins``
    (``Pinned``: pinned or unpinned, and when), or ``thread`` (the root's new summary as
    ``Thread``), with its position ``Seq``."""
    shape: dict[str, Any] = {
        "Type": change.kind,
        "RoomID": change.room_id,
        "MessageID": change.message_id,
    }
    if change.kind == "edited":
        shape["Text"] = change.text
        shape["EditedAt"] = timestamp(change.at)
        shape["Mentions"] = list(change.mentions)
        if change.mentions_room:
            shape["MentionsRoom"] = True
    elif change.kind == "reactions":
        shape["Reactions"] = reactions(change.reactions)
    elif change.kind == PINS:
        shape["Pinned"] = bool(change.pinned)
        shape["At"] = timestamp(change.at)
    elif change.kind == THREAD and change.thread is not None:
        shape["Thread"] = thread_summary(change.thread)
    elif change.kind == PREVIEWS:
        shape["Previews"] = [preview_shape(preview) for preview in change.previews or ()]
    shape["Seq"] = change.seq
    return shape


def unchanged(request: str, message: Message) -> dict[str, Any]:
    """The answer to a change request that changed nothing (`request`: "edit", "delete",
    "react" or "unreact"): the frame such a change would have sent, with the message's
    present state, and no Seq (it is not part of the stream)."""
    shape: dict[str, Any] = {"RoomID": message.room_id, "MessageID": message.id}
    if message.deleted:
        return {"Type": "deleted", **shape}
    if request == "edit":
        edited_at = None if message.edited_at is None else timestamp(message.edited_at)
        edited = {"Type": "edited", **shape, "Text": message.body, "EditedAt": edited_at}
        edited["Mentions"] = list(message.mentions)
        if message.mentions_room:
            edited["MentionsRoom"] = True
        return edited
    return {"Type": "reactions", **shape, "Reactions": reactions(message.reactions)}


def pinned_message(pin: PinnedMessage) -> dict[str, Any]:
    """One of a room's pins (``GET /room/{roomID}/pins``): the message as history shows
    it, who pinned it (null: an account deleted since) and when."""
    by = None
    if pin.pinned_by is not None:
        by = {"UID": pin.pinned_by, "Username": pin.pinned_by_name}
    return {
        "Message": room_message(pin.message),
        "PinnedBy": by,
        "PinnedAt": timestamp(pin.pinned_at),
    }


def version(version: Version) -> dict[str, Any]:
    """One version of a message's text (``GET /messages/{roomID}/{messageID}/edits``)."""
    return {"Text": version.text, "At": timestamp(version.at)}


def direct_message(message: Message, room: Room) -> dict[str, Any]:
    """A direct message as spec 003 frames it; `room` is the pair's direct room."""
    assert room.pair is not None, "direct messages live in direct rooms"
    low, high = room.pair
    shape = {
        "from": message.sender_id,
        "to": high if message.sender_id == low else low,
        "content": message.body,
        "id": message.id,
        "ts": message.ts_ms,
    }
    if message.client_msg_id is not None:
        shape["client_msg_id"] = message.client_msg_id
    if message.files:
        shape["files"] = files(message.files)
    return shape


def support_message(message: Message, room: Room) -> dict[str, Any]:
    """A message of a support thread as spec 001 frames it.

    `room.creator_id` is the user whose thread it is; anyone else who writes in it is
    an operator, so the message is from support and carries the operator's name.
    """
    from_support = message.sender_id != room.creator_id
    shape: dict[str, Any] = {
        "message_id": message.id,
        "message_text": message.body,
        "invader_name": message.sender_name if from_support else "",
        "is_from_support": from_support,
        "created": int(message.created_at.timestamp()),
    }
    if message.files:
        shape["files"] = files(message.files)
    return shape


def audit_entry(entry: AuditEntry) -> dict[str, Any]:
    """An entry of the audit log as `GET /room/{roomID}/audit` and `chat
    audit --json` show it."""
    assert entry.created_at is not None  # read from the log
    target = None
    if entry.target_id is not None:
        target = person(entry.target_id, entry.target_name or "")
    return {
        "AuditID": entry.id,
        "RoomID": entry.room_id,
        "Action": entry.action,
        "By": person(entry.actor_id, entry.actor_name),
        "Target": target,
        "MessageID": entry.message_id,
        "Reason": entry.reason,
        "Details": entry.details,
        "CreatedAt": timestamp(entry.created_at),
    }
