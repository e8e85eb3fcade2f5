"""What a ``CHAT_FILES_URL=s3://...`` says (`S3Location`): parsed and bounded without
boto3, so a configuration is checked where boto3 is not installed, and before any client
is made. chat/files/s3.py is the storage that uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

#: Bounds on what a URL may say (it comes from the environment, but is echoed in errors).
MAX_URL_CHARS = 2048
MAX_PREFIX_CHARS = 256
MAX_ENDPOINT_CHARS = 512
MAX_CREDENTIAL_CHARS = 256

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_CREDENTIAL = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
_PARAMETERS = frozenset({"endpoint", "region", "access_key", "secret_key", "addressing"})
_ADDRESSING = frozenset({"auto", "path", "virtual"})


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise ValueError(f"S3 URL: the {name} parameter is given {len(values)} times")
    return values[0]


@dataclass(frozen=True)
class S3Location:
    """What an ``s3://`` URL says: where the objects go and how to sign for them. The
    secret is left out of `repr` (and so out of logs and tracebacks)."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    addressing: str = "auto"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket[/prefix]?endpoint=...&region=...&access_key=...&secret_key=...
        &addressing=auto|path|virtual``. Raises ValueError naming what is wrong (never
        echoing the secret)."""
        if not isinstance(url, str) or not url:
            raise ValueError("S3 URL: empty")
        if len(url) > MAX_URL_CHARS:
            raise ValueError(f"S3 URL: longer than {MAX_URL_CHARS} characters")
        try:
            parts = urlsplit(url)
        except ValueError as error:
            raise ValueError(f"S3 URL: cannot be parsed ({error})") from None
        if parts.scheme != "s3":
            raise ValueError("S3 URL: must start with s3:// (s3://bucket/prefix?endpoint=...)")
        if parts.fragment:
            raise ValueError("S3 URL: must not have a #fragment")
        netloc = parts.netloc
        if "@" in netloc:
            raise ValueError(
                "S3 URL: credentials go in the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "environment variables (or access_key= and secret_key=), not before the bucket"
            )
        if ":" in netloc:
            raise ValueError("S3 URL: the server's address goes in endpoint=, not after the bucket")
        if _BUCKET.fullmatch(netloc) is None or ".." in netloc:
            raise ValueError(
                f"S3 URL: {netloc[:80]!r} is not a bucket name (3-63 characters: lowercase "
                "letters, digits, dots and hyphens, starting and ending with a letter or digit)"
            )
        prefix = parts.path.strip("/")
        if len(prefix) > MAX_PREFIX_CHARS:
            raise ValueError(f"S3 URL: the prefix is longer than {MAX_PREFIX_CHARS} characters")
        if prefix and not all(_PREFIX_SEGMENT.fullmatch(s) for s in prefix.split("/")):
            raise ValueError(
                "S3 URL: the prefix must be path segments of letters, digits, '.', '_' "
                "and '-' (not starting with '.'), separated by single slashes"
            )
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError:
            raise ValueError("S3 URL: the query is not name=value pairs joined by &") from None
        unknown = sorted(set(query) - _PARAMETERS)
        if unknown:
            names = ", ".join(repr(name[:40]) for name in unknown[:5])
            raise ValueError(
                f"S3 URL: unknown parameter {names} (known: {', '.join(sorted(_PARAMETERS))})"
            )
        endpoint = _one(query, "endpoint")
        if endpoint is not None:
            endpoint = cls._endpoint(endpoint)
        region = _one(query, "region")
        if region is not None and _REGION.fullmatch(region) is None:
            raise ValueError("S3 URL: region must be like us-east-1 (lowercase, digits, hyphens)")
        addressing = _one(query, "addressing")
        if addressing is None:
            # S3-compatible servers on an endpoint of their own (MinIO...) mostly want
            # the bucket in the path; AWS itself, the bucket in the host name.
            addressing = "path" if endpoint is not None else "auto"
        elif addressing not in _ADDRESSING:
            raise ValueError("S3 URL: addressing must be auto, path or virtual")
        access_key = _one(query, "access_key")
        secret_key = _one(query, "secret_key")
        if (access_key is None) != (secret_key is None):
            raise ValueError("S3 URL: access_key and secret_key go together (give both or neither)")
        for name, value in (("access_key", access_key), ("secret_key", secret_key)):
            if value is not None and (
                len(value) > MAX_CREDENTIAL_CHARS or _CREDENTIAL.fullmatch(value) is None
            ):
                raise ValueError(
                    f"S3 URL: {name} must be 1-{MAX_CREDENTIAL_CHARS} printable ASCII "
                    "characters without spaces"
                )
        return cls(
            bucket=netloc,
            prefix=prefix,
            endpoint=endpoint,
            region=region,
            addressing=addressing,
            access_key=access_key,
            secret_key=secret_key,
        )

    @staticmethod
    def _endpoint(text: str) -> str:
        if len(text) > MAX_ENDPOINT_CHARS:
            raise ValueError(f"S3 URL: endpoint is longer than {MAX_ENDPOINT_CHARS} characters")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
        except ValueError:
            raise ValueError("S3 URL: endpoint is not a URL (http://127.0.0.1:9000)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("S3 URL: endpoint must be an http:// or https:// URL with a host")
        if "@" in parts.netloc:
            raise ValueError("S3 URL: endpoint must not carry credentials")
        if parts.query or parts.fragment:
            raise ValueError(
                "S3 URL: endpoint must have no query or fragment (percent-encode it "
                "if it is followed by other parameters)"
            )
        return text.rstrip("/")

    def describe(self) -> str:
        """Where the files are, for logs and errors: no credentials."""
        where = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        return where + (f" at {self.endpoint}" if self.endpoint else "")
