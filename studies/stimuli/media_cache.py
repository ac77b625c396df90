"""A worker's local copies of stored files (photographs, checkpoints), keyed by their sha256.

Workers share no disk with the web: they read inputs out of the default storage (S3 in a
deployment) once, keep them under MEDIA_CACHE_DIR named by content hash, and reuse them for every
later chunk. The hash is checked while copying, so a file that changed in the storage is refused
rather than used. Past MEDIA_CACHE_MAX_MB the least recently used files are removed.

On the local filesystem storage the stored file is already on this disk: it is used in place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings

COPY_CHUNK = 1 << 20


class CachedFileMismatch(Exception):
    """The stored file's content is not the one its record names."""


def _in_place(field_file) -> str | None:
    try:
        path = field_file.path
    except (NotImplementedError, AttributeError, ValueError):
        return None
    return path if path and os.path.exists(path) else None


def cache_dir() -> Path:
    path = Path(settings.MEDIA_CACHE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def local_path(field_file, sha256: str) -> str:
    """A path on this machine holding the stored file whose content hash is `sha256`."""
    in_place = _in_place(field_file)
    if in_place:
        return in_place
    root = cache_dir()
    target = root / f"{sha256}{Path(field_file.name).suffix}"
    if target.exists():
        os.utime(target)  # recently used: evicted last
        return str(target)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".partial-")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, field_file.storage.open(field_file.name, "rb") as src:
            for chunk in iter(lambda: src.read(COPY_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise CachedFileMismatch(
                f"{field_file.name} in the storage has sha256 {digest.hexdigest()[:12]}, expected {sha256[:12]}"
            )
        # Atomic: a process killed while copying leaves a .partial- file, never a wrong cached one.
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    evict(keep=target)
    return str(target)


def read_bytes(field_file, sha256: str) -> bytes:
    with open(local_path(field_file, sha256), "rb") as fh:
        return fh.read()


def evict(keep: Path | None = None, max_bytes: int | None = None) -> int:
    """Remove least recently used files until the cache fits its bound. Returns the bytes removed."""
    limit = settings.MEDIA_CACHE_MAX_MB * 1024 * 1024 if max_bytes is None else max_bytes
    entries = []
    for entry in os.scandir(cache_dir()):
        if entry.is_file() and not entry.name.startswith(".partial-"):
            st = entry.stat()
            entries.append((st.st_mtime, st.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # another worker process on this host removed it first
        total -= size
        removed += size
    return removed


def photograph_rgb(image):
    """An ImageItem's photograph as an RGB PIL image, read through the cache."""
    from PIL import Image

    with Image.open(local_path(image.file, image.sha256)) as img:
        return img.convert("RGB")
