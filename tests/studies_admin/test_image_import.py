"""Image-set import: a good archive (labels.csv and VOC) imports; every bad archive is refused by name, writing nothing."""

import io
import struct
import zlib

import pytest
from PIL import Image

from studies.models import ImageItem, ImageSet
from studies.stimuli.imports import ImportRefused, import_image_set

from .conftest import build_zip, files_under, labels_csv, scene_png, scenes_archive


def png_with_size(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming width x height (Pillow reads the size without decoding)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def one_image_zip(name: str, data: bytes, labels="circle;square", boxes="") -> bytes:
    return build_zip({name: data, "labels.csv": labels_csv([(name, labels, boxes)])})


def assert_nothing_written(media_root):
    assert ImageSet.objects.count() == 0
    assert ImageItem.objects.count() == 0
    assert files_under(media_root, "images") == []


@pytest.fixture(autouse=True)
def clean_media(media_root):
    import shutil

    shutil.rmtree(media_root / "images", ignore_errors=True)


@pytest.mark.django_db
def test_it_imports_a_labels_csv_archive_with_sha256_sizes_labels_and_boxes(media_root):
    image_set = import_image_set("scenes", io.BytesIO(scenes_archive(3)))
    items = list(image_set.images.order_by("filename"))
    assert [i.filename for i in items] == ["scene_000.png", "scene_001.png", "scene_002.png"]
    png, labels, boxes = scene_png(0)
    import hashlib

    assert items[0].sha256 == hashlib.sha256(png).hexdigest()
    assert (items[0].width, items[0].height) == (128, 128)
    assert items[0].labels == labels
    assert {b["label"]: tuple(b["box"]) for b in items[0].boxes} == boxes
    assert items[0].file.read() == png
    assert image_set.annotation_format == "labels.csv"


@pytest.mark.django_db
def test_it_imports_pascal_voc_annotations(media_root):
    png, _, _ = scene_png(1)
    xml = b"""<annotation><filename>000005.png</filename><size><width>128</width><height>128</height></size>
      <object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>40</xmax><ymax>50</ymax></bndbox></object>
      <object><name>dog</name><difficult>1</difficult><bndbox><xmin>60</xmin><ymin>60</ymin><xmax>128</xmax><ymax>128</ymax></bndbox></object>
    </annotation>"""
    archive = build_zip({"VOC2007/JPEGImages/000005.png": png, "VOC2007/Annotations/000005.xml": xml})
    image_set = import_image_set("voc", io.BytesIO(archive))
    item = image_set.images.get()
    assert item.labels == ["cat", "dog"]
    assert item.boxes == [{"label": "cat", "box": [0, 1, 40, 50]}, {"label": "dog", "box": [59, 59, 128, 128]}]
    assert image_set.annotation_format == "voc"


def _truncated_png():
    png, _, _ = scene_png(0)
    return png[: len(png) // 2]


BAD_ARCHIVES = {
    "not_an_image": (lambda: one_image_zip("a.png", b"this is text, not a PNG"), "a.png: not an image"),
    "truncated_image": (lambda: one_image_zip("a.png", _truncated_png()), "a.png:"),
    "decompression_bomb": (lambda: one_image_zip("bomb.png", png_with_size(11_000, 11_000)), "bomb.png:"),
    "huge_dimensions": (lambda: one_image_zip("wide.png", png_with_size(60_000, 10)), "wide.png: 60000x10"),
    "dotdot_path": (
        lambda: build_zip({"../evil.png": scene_png(0)[0], "labels.csv": labels_csv([("evil.png", "a;b", "")])}),
        "../evil.png: paths with '..'",
    ),
    "absolute_path": (
        lambda: build_zip({"/tmp/evil.png": scene_png(0)[0], "labels.csv": labels_csv([("a.png", "a;b", "")])}),
        "/tmp/evil.png: absolute paths",
    ),
    "symlink": (
        lambda: build_zip({"labels.csv": labels_csv([("link.png", "a;b", "")])}, symlinks={"link.png": "/etc/passwd"}),
        "link.png: symbolic links",
    ),
    "bad_label_row_box": (
        lambda: one_image_zip("a.png", scene_png(0)[0], boxes="circle:1,2,x,4"),
        "labels.csv line 2: box 'circle:1,2,x,4' has a coordinate that is not a number",
    ),
    "box_label_not_in_labels": (
        lambda: one_image_zip("a.png", scene_png(0)[0], boxes="star:1,2,3,4"),
        "labels.csv line 2: a.png: box label 'star'",
    ),
    "box_outside_image": (
        lambda: one_image_zip("a.png", scene_png(0)[0], boxes="circle:1,2,300,4"),
        "labels.csv line 2: a.png: box circle:1,2,300,4 leaves the 128x128 image",
    ),
    "missing_file_row": (
        lambda: build_zip(
            {"a.png": scene_png(0)[0], "labels.csv": labels_csv([("a.png", "circle;square", ""), ("b.png", "x;y", "")])}
        ),
        "labels.csv line 3: b.png is not in the archive",
    ),
    "row_without_labels": (
        lambda: one_image_zip("a.png", scene_png(0)[0], labels=""),
        "labels.csv line 2: a.png has no labels",
    ),
    "bad_header": (
        lambda: build_zip({"a.png": scene_png(0)[0], "labels.csv": b"file,classes\na.png,x\n"}),
        "labels.csv line 1: the header must be filename,labels,boxes",
    ),
    "not_a_zip": (lambda: b"PK not really", "not a zip archive"),
    "voc_with_entities": (
        lambda: build_zip({"a.png": scene_png(0)[0], "a.xml": b'<!DOCTYPE x [<!ENTITY a "b">]><annotation/>'}),
        "a.xml: XML with a DOCTYPE",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_it_refuses_a_bad_archive_naming_the_file_and_writes_nothing(case, media_root):
    make, expected = BAD_ARCHIVES[case]
    good_and_bad = make()
    with pytest.raises(ImportRefused) as refused:
        import_image_set(f"bad-{case}", io.BytesIO(good_and_bad))
    assert any(expected in e for e in refused.value.errors), refused.value.errors
    assert_nothing_written(media_root)


@pytest.mark.django_db
def test_it_refuses_the_whole_archive_when_one_image_of_many_is_bad(media_root):
    entries = {f"s{i}.png": scene_png(i)[0] for i in range(3)}
    entries["s1.png"] = b"GIF89a but not really"
    entries["labels.csv"] = labels_csv([(f"s{i}.png", "circle;square", "") for i in range(3)])
    with pytest.raises(ImportRefused) as refused:
        import_image_set("mixed", io.BytesIO(build_zip(entries)))
    assert refused.value.errors == ["s1.png: not an image (Pillow cannot identify it)"]
    assert_nothing_written(media_root)


@pytest.mark.django_db
def test_the_admin_upload_imports_for_the_researcher_and_shows_errors_by_file(researcher_client, media_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("bad.zip", one_image_zip("a.png", b"not an image"), "application/zip")
    response = researcher_client.post("/admin/studies/imageset/add/", {"name": "bad", "archive": bad})
    assert response.status_code == 200
    assert "a.png: not an image" in response.content.decode()
    assert_nothing_written(media_root)

    good = SimpleUploadedFile("good.zip", scenes_archive(2), "application/zip")
    response = researcher_client.post("/admin/studies/imageset/add/", {"name": "good", "archive": good})
    assert response.status_code == 302
    assert ImageSet.objects.get(name="good").images.count() == 2


@pytest.mark.django_db
def test_the_import_images_command_prints_progress(tmp_path, media_root):
    from django.core.management import call_command

    path = tmp_path / "scenes.zip"
    path.write_bytes(scenes_archive(3))
    out = io.StringIO()
    call_command("import_images", "cmd-scenes", str(path), stdout=out)
    text = out.getvalue()
    assert "3/3 100.0%" in text and "Imported 3 images into 'cmd-scenes'" in text
    assert ImageSet.objects.get(name="cmd-scenes").images.count() == 3
