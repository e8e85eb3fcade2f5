"""A VAPID private key (RFC 8292) read from its text, checked where it is configured
(`chat.core.setting_values`) and loaded where pushes are signed (`chat.push.vapid`)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02


def load_private_key(text: str) -> Vapid02:
    """A VAPID key from its text (raw base64url, base64url DER, or PEM); ValueError if
    it is none of them."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            vapid = Vapid02.from_pem(text.encode())
        else:
            vapid = Vapid02.from_string(text)
    except Exception as error:  # py-vapid raises whatever its parsers do
        raise ValueError(f"must be a P-256 private key ({type(error).__name__})") from None
    # The subject is checked where it is configured (chat.core.config): py-vapid's own
    # check refuses a URL with a port or a path.
    vapid.conf = {"no-strict": True}
    key = vapid.private_key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("must be a P-256 private key")
    return vapid
