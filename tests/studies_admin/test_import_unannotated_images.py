"""An image the annotations do not mention is never skipped silently by the admin's import."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import ImageSet

from .conftest import build_zip, labels_csv, scene_png

pytestmark = pytest.mark.django_db


def archive_with_unlabelled_image() -> bytes:
    """Three images, two rows in labels.csv: photo_2.png has no annotation."""
    entries, rows = {}, []
    for i in range(3):
        png, labels, _ = scene_png(i)
        entries[f"photo_{i}.png"] = png
        if i < 2:
            rows.append((f"photo_{i}.png", ";".join(labels), ""))
    entries["labels.csv"] = labels_csv(rows)
    return build_zip(entries)


def upload(client, unannotated: str):
    return client.post(
        "/admin/studies/imageset/add/",
        {
            "name": "own photos",
            "description": "",
            "archive": SimpleUploadedFile("photos.zip", archive_with_unlabelled_image()),
            "unannotated": unannotated,
        },
        follow=True,
    )


def test_the_admin_import_warns_and_lists_the_images_it_skipped(researcher_client, media_root):
    response = upload(researcher_client, "warn")
    texts = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert ("success", "Imported 2 images into own photos.") in texts
    assert ("warning", "Skipped 1 image without an annotation: photo_2.png") in texts
    assert ImageSet.objects.get(name="own photos").images.count() == 2


def test_the_admin_import_can_refuse_an_archive_with_unannotated_images(researcher_client, media_root):
    response = upload(researcher_client, "refuse")
    assert response.status_code == 200
    assert "1 image without an annotation: photo_2.png" in response.content.decode()
    assert not ImageSet.objects.exists()
