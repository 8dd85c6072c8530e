"""Where attachment bytes live: a content-addressed store keyed by SHA-256.

`FileStore` is what the rules use (put, open, exists), so an S3-compatible store can
stand in for the local one. `LocalFileStore` keeps each file at `ab/cd/<sha256>`
under its root, written to a temporary file and renamed into place: a reader never
sees half a file, and identical content is stored once."""
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

SHA256 = re.compile(r"[0-9a-f]{64}")


class Stored(NamedTuple):
    sha256: str
    size: int
    mtime: float  # seconds since the epoch


class FileStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data` (once per content); returns its SHA-256 in hex."""

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes for reading; FileNotFoundError when absent."""

    def exists(self, sha256: str) -> bool:
        ...


def _checked(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 in lowercase hex")
    return sha256


class LocalFileStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        sha256 = _checked(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.is_file():
            os.utime(target)  # fresh again: `baton prune-files` spares recent files (a new row may be about to name it)
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)  # atomic; a concurrent writer of the same content wins harmlessly
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return sha256

    def stored(self) -> Iterator[Stored]:
        """Every stored file (not the temporary files of writes under way)."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/??/*"):
            if SHA256.fullmatch(path.name) and path.is_file():
                info = path.stat()
                yield Stored(path.name, info.st_size, info.st_mtime)

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
