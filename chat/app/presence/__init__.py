"""Presence and typing, cluster-wide: who is online and in which room (`tracker`, the
`Presence` component), what the other instances said (`cluster`), the list of a room
(`present_list`), the frames (`frames`), telling rooms of changes coalesced
(`announcements`) and typing notices (`typing`)."""
