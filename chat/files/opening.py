"""Which file storage `CHAT_FILES_URL` names, opened and checked at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from chat.core.config import Config
from chat.files.directory import DirectoryStorage
from chat.files.storage import FileStorage


def storage_directory(config: Config) -> Path | None:
    """The directory files are kept in, or None when they are kept in S3."""
    url = config.files_url
    if url is None:
        return config.data_dir / "files"
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if url.startswith("/"):
        return Path(url)
    return None


@asynccontextmanager
async def open_storage(config: Config) -> AsyncIterator[FileStorage]:
    """The storage, checked (a directory that cannot be written, a bucket that does not
    answer: `StorageUnavailable` at start-up, not at the first upload); closed after."""
    directory = storage_directory(config)
    if directory is not None:
        storage = DirectoryStorage(directory)
        await storage.check()
        yield storage
        return
    assert config.files_url is not None
    # Imported here: boto3 is the `s3` extra's, needed only by those who use S3.
    from chat.files.s3 import S3Storage

    s3 = S3Storage.from_url(config.files_url)
    try:
        await s3.check()
        yield s3
    finally:
        s3.close()
