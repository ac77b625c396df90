"""Boxes and maps agree under resize and center-crop: one geometry, recorded with every stimulus,
places the boxes for the faithfulness metrics and the simulated participants."""

import io

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image, ImageDraw

from explain_engine import load_model
from explain_engine.geometry import WHOLE
from explain_engine.models import display_geometry
from studies.models import Stimulus
from studies.participants.bots import Oracle
from studies.results import faithfulness
from studies.stimuli.geometry import boxes_on_map, stimulus_geometry

pytestmark = pytest.mark.django_db


def drawn_box_after_transform(size, box, arch="resnet18", display="standard"):
    """Where torchvision's own pixels put a white box drawn on a black photo (x0, y0, x1, y1)."""
    photo = Image.new("RGB", size)
    ImageDraw.Draw(photo).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(255, 255, 255))
    bundle = load_model(arch, weights=None, categories=["a", "b"], display=display)
    seen = bundle.display(photo)[..., 0] > 127
    ys, xs = np.nonzero(seen)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), seen.shape


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((320, 240), (200, 120, 260, 195), (155, 112, 220, 192)),  # shorter side 240 -> 256, 58 px cut left
        ((480, 160), (200, 30, 280, 150), (48, 32, 176, 224)),  # panorama: x 170..310 survive the crop
        ((240, 320), (30, 70, 120, 180), (16, 16, 112, 134)),  # portrait: top and bottom are cut
    ],
)
def test_the_geometry_puts_boxes_where_torchvisions_crop_puts_the_pixels(size, box, expected):
    geometry = display_geometry("resnet18")
    assert geometry.boxes_on_grid([box], size, (224, 224)) == [expected]
    drawn, shape = drawn_box_after_transform(size, box)
    assert shape == (224, 224)
    assert max(abs(a - b) for a, b in zip(drawn, expected, strict=True)) <= 1


def test_objects_outside_the_crop_have_no_box_on_the_map():
    geometry = display_geometry("vgg11")
    # the panorama's ends are cut off: nothing of these boxes is on the map
    assert geometry.boxes_on_grid([(5, 20, 80, 140), (400, 20, 475, 140)], (480, 160), (224, 224)) == []
    assert geometry.visible_fraction((5, 20, 80, 140), (480, 160)) == 0.0
    assert geometry.visible_fraction((200, 30, 280, 150), (480, 160)) == 1.0


def test_pad_to_square_shows_the_whole_photograph():
    geometry = display_geometry("resnet18", display="pad_square")
    box = (5, 20, 80, 140)
    (expected,) = geometry.boxes_on_grid([box], (480, 160), (224, 224))
    drawn, _ = drawn_box_after_transform((480, 160), box, display="pad_square")
    assert max(abs(a - b) for a, b in zip(drawn, expected, strict=True)) <= 1
    assert geometry.visible_fraction(box, (480, 160)) == 1.0


def test_preprocessing_is_torchvisions_own_transform():
    rng = np.random.RandomState(0)
    photo = Image.fromarray(rng.randint(0, 255, (160, 480, 3), dtype=np.uint8))
    bundle = load_model("resnet18", weights=None, categories=["a", "b"])
    reference = torchvision.models.get_model_weights("resnet18").DEFAULT.transforms()
    assert torch.equal(bundle.preprocess(photo), reference(photo))


def test_faithfulness_scales_boxes_through_the_maps_geometry():
    geometry = display_geometry("resnet18")
    assert faithfulness.scale_boxes([(200, 120, 260, 195)], (320, 240), (224, 224), geometry) == [(155, 112, 220, 192)]
    # the demo networks see the whole scene
    assert faithfulness.scale_boxes([(10, 20, 50, 60)], (200, 100), (50, 100), WHOLE) == [(5, 10, 25, 30)]


def test_generated_stimuli_record_the_transform_and_the_oracle_reads_boxes_through_it(researcher_world):
    study = researcher_world.generate(researcher_world.class_discrimination_study(methods=["gradcam"]))
    stimuli = Stimulus.objects.filter(image__image_set=researcher_world.image_set, method="gradcam")
    assert stimuli.count() == 10  # five qualifying photos, two classes each
    for stimulus in stimuli:
        display = stimulus.provenance["display"]
        assert display["mode"] == "resize_crop" and display["resize"] == 256 and display["crop"] == [224, 224]
        assert "centre 224x224" in display["description"]
        assert stimulus_geometry(stimulus) == display_geometry("resnet18")
        with stimulus.png.open("rb") as fh:
            assert Image.open(io.BytesIO(fh.read())).size == (224, 224)

    # a map whose mass lies exactly on the object as the participant sees it: the oracle puts all of
    # it inside the box (scaling the box to the whole photo, as before, left half of it outside)
    stimulus = stimuli.get(image__filename="photo_05.jpg", target_class="dog")
    ((x0, y0, x1, y1),) = boxes_on_map(stimulus, "dog", (224, 224))
    mass = np.zeros((224, 224), dtype=np.float32)
    mass[y0:y1, x0:x1] = 1.0
    oracle = Oracle(study)
    oracle._maps[stimulus.pk] = mass
    assert oracle.share_in_boxes(stimulus, "dog") == pytest.approx(1.0)
    assert oracle.share_in_boxes(stimulus, "bird") == pytest.approx(0.0)


def test_a_model_displayed_padded_to_square_makes_its_own_whole_photo_stimuli(researcher_world):
    padded = researcher_world.padded_resnet()
    study = researcher_world.class_discrimination_study(model=padded, methods=["gradcam"], max_images=2, seed=3)
    study = researcher_world.generate(study)
    assert study.status == "ready"
    stimuli = Stimulus.objects.filter(model=padded, method="gradcam")
    assert stimuli.count() == 4
    for stimulus in stimuli:
        assert stimulus.provenance["display"]["mode"] == "pad_square"
        assert stimulus_geometry(stimulus) == display_geometry("resnet18", display="pad_square")
    # the same inputs through the standard crop are different stimuli, with a different content key
    keys = set(stimuli.values_list("content_key", flat=True))
    cropped = researcher_world.generate(
        researcher_world.class_discrimination_study(slug="cropped", methods=["gradcam"], max_images=2, seed=3)
    )
    assert not keys & set(Stimulus.objects.filter(model=cropped.model).values_list("content_key", flat=True))
