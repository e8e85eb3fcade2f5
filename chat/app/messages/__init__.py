"""Messages: committing them (`writer`), fanning them out (`broadcaster`), and what
can happen to them after (`changes`, `reports`, `search`, `retention`, `files`,
`mentions`)."""
