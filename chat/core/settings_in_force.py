"""The settings a running server uses, as an operator may see them (``GET
/admin/server``): every setting by its environment variable, secrets never shown. A
secret (a key, a token, a password) is only said to be set; a URL keeps its user but not
its password."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chat.core.settings import SETTINGS

#: What a set secret is shown as.
MASK = "(set)"
#: Settings whose whole value is a secret, besides those whose name ends like one
#: (`_SECRET_ENDINGS`: a lifetime, `token_ttl`, is no secret).
SECRET_FIELDS = frozenset({"jwt_secret", "metrics_token", "vapid_private_key"})
_SECRET_ENDINGS = ("secret", "password", "private_key", "_token")
#: Settings whose text is JSON (checked at start-up), shown parsed.
JSON_FIELDS = frozenset({"oidc_providers"})
#: A password in a URL (``scheme://user:password@host``).
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*):[^/@\s]*@", re.IGNORECASE)


def settings_in_force(config: object) -> dict[str, Any]:
    """Every setting of `config` by its environment variable, as JSON values, secrets
    masked."""
    return {
        setting.env: _shown(setting.field, getattr(config, setting.field, None))
        for setting in SETTINGS
    }


def is_secret(field: str) -> bool:
    """Whether a setting's field (or a key inside its value, lower-cased) names a secret."""
    return field in SECRET_FIELDS or field.endswith(_SECRET_ENDINGS)


def _shown(field: str, value: Any) -> Any:
    if value is None:
        return None
    if is_secret(field):
        return MASK
    if field in JSON_FIELDS and value:
        # Shown as the objects it holds, so that their secret-named keys are masked
        # (CHAT_OIDC_PROVIDERS' ClientSecret), the rest readable.
        return shown_value(json.loads(value))
    return shown_value(value)


def shown_value(value: Any) -> Any:
    """`value` as JSON: passwords out of URLs, secret-named keys of mappings masked."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str | Path):
        return _URL_PASSWORD.sub(r"\g<head>:***@", str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {
            str(key): MASK if is_secret(str(key).lower()) else shown_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [shown_value(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return _URL_PASSWORD.sub(r"\g<head>:***@", str(value))
