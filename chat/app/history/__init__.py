"""History: a room's messages read back, from the table (`pages`) or from the windows
of recent messages kept in memory and exact by the stream of commits (`windows`,
`from_memory`)."""
