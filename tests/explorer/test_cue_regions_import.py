"""A box labelled `cue:<name>` imports as a cue region; a box of an unknown label is still refused."""

import io

import pytest

from studies.stimuli.imports import ImportRefused, import_image_set
from tests.studies_admin.conftest import build_zip, labels_csv, scene_png


def archive(boxes: str) -> bytes:
    png, _, _ = scene_png(0)
    return build_zip({"a.png": png, "labels.csv": labels_csv([("a.png", "star;circle", boxes)])})


def test_a_cue_box_is_stored_as_a_cue_region_beside_the_objects(db, media_root):
    image_set = import_image_set("cues", io.BytesIO(archive("star:1,2,30,40;cue:stripes:60,60,90,90")))
    image = image_set.images.get()
    assert image.boxes == [
        {"label": "star", "box": [1, 2, 30, 40]},
        {"label": "stripes", "box": [60, 60, 90, 90], "cue": True},
    ]
    assert image.labels == ["star", "circle"]


def test_a_box_whose_label_is_neither_a_label_nor_a_cue_is_refused(db, media_root):
    with pytest.raises(ImportRefused, match="box label 'stripes' is not one of the image's labels"):
        import_image_set("typo", io.BytesIO(archive("stripes:60,60,90,90")))


def test_the_demo_writer_marks_the_stripes_of_every_cued_scene(cue_scenes):
    from explain_engine.synthetic import DEFAULT_BIAS, make_scene

    for image in cue_scenes.images.all():
        index = int(image.filename.split("_")[1].split(".")[0])
        scene = make_scene(5, index, DEFAULT_BIAS)
        cues = [b["box"] for b in image.boxes if b.get("cue")]
        assert cues == ([list(scene.cue_box)] if scene.cue_box else [])
