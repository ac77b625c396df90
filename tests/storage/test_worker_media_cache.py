"""Workers copy photographs and checkpoints out of the storage once, into a cache keyed by sha256 and
bounded in size; a stored file whose content is not the recorded one is refused."""

import hashlib
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from django.db.models.fields.files import FieldFile

from studies.models import ClassifierModel
from studies.stimuli import media_cache


def stored(storage, name: str, data: bytes) -> FieldFile:
    field_file = FieldFile(None, ClassifierModel._meta.get_field("checkpoint"), storage.save(name, ContentFile(data)))
    field_file.storage = storage
    return field_file


@pytest.fixture
def cache(settings, tmp_path):
    settings.MEDIA_CACHE_DIR = str(tmp_path / "cache")
    settings.MEDIA_CACHE_MAX_MB = 1
    return tmp_path / "cache"


def test_a_file_without_a_local_path_is_copied_once_under_its_sha256(cache):
    # Storages such as S3 have no `.path`; InMemoryStorage raises NotImplementedError for it too.
    storage = InMemoryStorage()
    data = b"checkpoint bytes"
    sha = hashlib.sha256(data).hexdigest()
    field_file = stored(storage, "checkpoints/weights.pt", data)
    path = media_cache.local_path(field_file, sha)
    assert path == str(cache / f"{sha}.pt") and open(path, "rb").read() == data
    storage.delete(field_file.name)  # a second read never goes back to the storage
    assert media_cache.local_path(field_file, sha) == path


def test_a_stored_file_with_other_content_is_refused_and_leaves_nothing(cache):
    field_file = stored(InMemoryStorage(), "images/a.png", b"tampered")
    with pytest.raises(media_cache.CachedFileMismatch):
        media_cache.local_path(field_file, hashlib.sha256(b"original").hexdigest())
    assert os.listdir(cache) == []


def test_the_least_recently_used_files_go_when_the_cache_passes_its_bound(cache):
    storage = InMemoryStorage()
    blobs = [bytes([i]) * 400_000 for i in range(4)]  # 1.6 MB against a 1 MB bound
    paths = []
    for i, data in enumerate(blobs):
        paths.append(media_cache.local_path(stored(storage, f"images/{i}.png", data), hashlib.sha256(data).hexdigest()))
        os.utime(paths[-1], (1000 + i, 1000 + i))
    media_cache.evict()
    assert [os.path.exists(p) for p in paths] == [False, False, True, True]
    assert sum(os.path.getsize(p) for p in paths if os.path.exists(p)) <= 1024 * 1024


def test_a_local_storage_file_is_used_in_place(cache, settings, tmp_path):
    from django.core.files.storage import FileSystemStorage

    storage = FileSystemStorage(location=tmp_path / "media")
    field_file = stored(storage, "images/b.png", b"photo")
    assert media_cache.local_path(field_file, hashlib.sha256(b"photo").hexdigest()) == field_file.path
    assert not cache.exists() or os.listdir(cache) == []
