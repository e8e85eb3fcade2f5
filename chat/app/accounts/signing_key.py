"""Which key signs and checks this instance's tokens (HS256 JWTs).

- `CHAT_JWT_SECRET` set: that key. On PostgreSQL, if the database already keeps a
  cluster key and it differs, the instance warns loudly at start: tokens issued by the
  other instances would be refused here, and this instance's there.
- Unset, on SQLite: ``<data dir>/jwt-secret``, generated on first use (one server per
  file, so one key).
- Unset, on PostgreSQL: the key kept in the database (`server_secrets`, name ``jwt``),
  made once by the first instance that starts, so a cluster needs only the database URL.
  A data directory's existing ``jwt-secret`` file seeds it, so an instance that
  generated its key in a file before keeps accepting the tokens it issued.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import trio

from chat.app.accounts.auth import SECRET_FILE_NAME, load_or_create_secret
from chat.core.config import Config
from chat.store import Store

log = logging.getLogger("chat.app.accounts.signing_key")

#: The name of the JWT signing key in `server_secrets`.
JWT_SECRET_NAME = "jwt"


def _existing_file_secret(data_dir: Path) -> str | None:
    """The data directory's ``jwt-secret``, if there is a usable one (blocking)."""
    try:
        secret = (data_dir / SECRET_FILE_NAME).read_text(encoding="ascii").strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return secret if 32 <= len(secret) <= 512 else None


async def load_signing_key(config: Config, store: Store) -> str:
    """The key this instance signs and checks tokens with (see the module docstring)."""
    from chat.store.secrets import StoredSecrets

    # Only the PostgreSQL store keeps secrets; SQLite's stay in the data directory.
    kept = store if isinstance(store, StoredSecrets) else None
    if config.jwt_secret is not None:
        if kept is not None:
            stored = await kept.stored_secret(JWT_SECRET_NAME)
            if stored is not None and not secrets.compare_digest(stored, config.jwt_secret):
                log.warning(
                    "CHAT_JWT_SECRET differs from the signing key this database's cluster "
                    "keeps (server_secrets): tokens from instances without CHAT_JWT_SECRET "
                    "are refused here, and this instance's there. Unset CHAT_JWT_SECRET on "
                    "every instance, or set the same value on all of them."
                )
        return config.jwt_secret
    if kept is None:
        return await trio.to_thread.run_sync(load_or_create_secret, config.data_dir)
    seed = await trio.to_thread.run_sync(_existing_file_secret, config.data_dir)
    return await kept.shared_secret(JWT_SECRET_NAME, seed or secrets.token_urlsafe(48))
