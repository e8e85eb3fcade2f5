"""Accounts: passwords and tokens (`auth`), registering and logging in (`operations`),
browser sessions (`sessions`), revoking tokens cluster-wide (`revocations`), the signing
key (`signing_key`) and a user's data, exported or erased (`data`)."""
