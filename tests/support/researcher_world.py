"""A second world for the tests, shaped like a researcher's own data, not like the demo's.

- Non-square JPEG photographs of several sizes (landscape, portrait, a 3:1 panorama), with PASCAL
  VOC XML annotations, in VOC's folder layout, zipped as a researcher would upload them.
- Two torchvision architectures with seeded random weights, saved as state-dict checkpoints:
  resnet18 and squeezenet1_1 (a plain-ReLU network small enough for the CPU, where VGG's 500 MB
  checkpoint is not). Both use torchvision's display transform: the shorter side resized to 256 px
  and the centre 224 px kept, so the sides of these photographs are cut off.

Some objects are placed where the crop cannot show them (the panoramas' ends, a cat half out of
the frame), so that every piece of code that maps boxes onto maps is tested where the demo world,
whose networks see the whole square scene, cannot catch it.

    world = researcher_world            # fixture: imported image set, registered models
    study = world.class_discrimination_study(design="within")
    world.generate(study)               # the real generation command, in this process
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

CATEGORIES = ("cat", "dog", "car", "bird")
COLOURS = {"cat": (235, 120, 30), "dog": (40, 110, 230), "car": (210, 30, 50), "bird": (250, 220, 40)}

# (filename, (width, height), [(label, (x0, y0, x1, y1)), ...]) in pixel edges.
PHOTOS = [
    ("photo_01.jpg", (320, 240), [("cat", (70, 60, 150, 170)), ("dog", (170, 70, 260, 200))]),
    # A panorama: the crop keeps x 170..310, so both objects are cut off entirely.
    ("photo_02.jpg", (480, 160), [("cat", (5, 20, 80, 140)), ("dog", (400, 20, 475, 140))]),
    ("photo_03.jpg", (240, 320), [("car", (30, 70, 120, 180)), ("bird", (130, 120, 220, 250))]),
    ("photo_04.jpg", (400, 300), [("cat", (90, 60, 200, 200)), ("car", (210, 80, 320, 260))]),
    ("photo_05.jpg", (300, 200), [("dog", (70, 40, 150, 170)), ("bird", (160, 30, 230, 160))]),
    # The cat is 46% inside the crop (x 54.4..264.4): out at the default 50% rule, in at 40%.
    ("photo_06.jpg", (320, 240), [("cat", (0, 60, 100, 180)), ("dog", (150, 60, 250, 200))]),
    # The bird is in view, the car at the panorama's left end is not.
    ("photo_07.jpg", (480, 160), [("bird", (200, 30, 280, 150)), ("car", (20, 30, 120, 150))]),
    ("photo_08.jpg", (352, 288), [("dog", (80, 50, 180, 200)), ("car", (190, 90, 290, 250))]),
]
IN_VIEW = ["photo_01.jpg", "photo_03.jpg", "photo_04.jpg", "photo_05.jpg", "photo_08.jpg"]  # both objects seen
CROPPED_OUT = ["photo_02.jpg", "photo_06.jpg", "photo_07.jpg"]
MODELS = {"resnet18": ("resnet18", 1), "squeezenet": ("squeezenet1_1", 2)}  # name -> (arch, seed)


def photograph(size, objects, seed: int) -> bytes:
    """A JPEG with a noisy gradient background and one filled shape per object."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size)
    top, bottom = [rng.randint(60, 140) for _ in range(3)], [rng.randint(90, 180) for _ in range(3)]
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / max(h - 1, 1)
        draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    for _ in range(w * h // 40):
        x, y = rng.randrange(w), rng.randrange(h)
        draw.point((x, y), fill=(rng.randint(40, 200),) * 3)
    for label, (x0, y0, x1, y1) in objects:
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=COLOURS[label], outline=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def voc_xml(filename: str, size, objects) -> bytes:
    """A PASCAL VOC annotation (1-based, inclusive pixel coordinates)."""
    parts = [
        "<annotation>",
        "  <folder>VOC2007</folder>",
        f"  <filename>{filename}</filename>",
        f"  <size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>",
    ]
    for label, (x0, y0, x1, y1) in objects:
        parts += [
            "  <object>",
            f"    <name>{label}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>",
            f"    <bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>",
            "  </object>",
        ]
    parts.append("</annotation>")
    return "\n".join(parts).encode()


def voc_archive(photos=PHOTOS) -> bytes:
    """The photographs and their annotations in VOC's layout, as a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, (filename, size, objects) in enumerate(photos):
            zf.writestr(f"VOC2007/JPEGImages/{filename}", photograph(size, objects, seed=100 + n))
            zf.writestr(f"VOC2007/Annotations/{Path(filename).stem}.xml", voc_xml(filename, size, objects))
    return buf.getvalue()


def save_checkpoint(path: Path, arch: str, seed: int, favour: str | None = "cat") -> Path:
    """A seeded random torchvision network with a head for CATEGORIES, saved as a state dict.

    `favour` makes that class win on every image (a large bias on the last layer), so that trust
    studies, which keep images that both networks get right, have survivors with random weights.
    """
    import torch
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.get_model(arch, weights=None, num_classes=len(CATEGORIES))
    if favour is not None:
        head = net.fc if hasattr(net, "fc") else net.classifier[1]
        with torch.no_grad():
            head.bias[CATEGORIES.index(favour)] += 50.0
    torch.save(net.state_dict(), path)
    return path


@dataclass
class ResearcherWorld:
    image_set: object
    models: dict  # name -> ClassifierModel
    checkpoints: dict  # name -> Path

    @property
    def resnet(self):
        return self.models["resnet18"]

    @property
    def squeezenet(self):
        return self.models["squeezenet"]

    def padded_resnet(self):
        """The resnet18 weights registered again, shown padded to a square instead of center-cropped."""
        from studies.stimuli.registry import register_model

        return register_model(
            "resnet18 padded",
            "resnet18",
            checkpoint=str(self.checkpoints["resnet18"]),
            categories=list(CATEGORIES),
            display="pad_square",
        )

    def class_discrimination_study(self, **fields):
        from studies.models import Study

        values = {
            "name": "Researcher class discrimination",
            "slug": "researcher-cd",
            "kind": "class_discrimination",
            "methods": ["gradcam", "guided_backprop", "guided_gradcam"],
            "design": "within",
            "model": self.resnet,
            "image_set": self.image_set,
            "trials_per_participant": 3,
            "seed": 15,
            "attention_checks_per_participant": 1,
            "consent_text": "A test study.",
            "completion_code": "RSRCH-OK",
        }
        values.update(fields)
        return Study.objects.create(**values)

    def trust_study(self, **fields):
        from studies.models import Study

        values = {
            "name": "Researcher trust",
            "slug": "researcher-trust",
            "kind": "trust",
            "methods": ["gradcam", "guided_gradcam"],
            "design": "between",
            "stronger_model": self.resnet,
            "weaker_model": self.squeezenet,
            "image_set": self.image_set,
            "trials_per_participant": 4,
            "seed": 8,
            "attention_checks_per_participant": 1,
            "consent_text": "A test study.",
            "completion_code": "RSRCH-OK",
        }
        values.update(fields)
        return Study.objects.create(**values)

    def generate(self, study):
        """Generate the study's stimuli with the real command, in this process; returns the study reloaded."""
        from django.core.management import call_command

        call_command("generate_stimuli", study.slug, "--inline", stdout=io.StringIO(), stderr=io.StringIO())
        study.refresh_from_db()
        return study


@pytest.fixture(scope="session")
def researcher_files(tmp_path_factory):
    """The researcher's zip of photographs and the two checkpoints, made once per test session."""
    folder = tmp_path_factory.mktemp("researcher")
    archive = folder / "voc2007.zip"
    archive.write_bytes(voc_archive())
    checkpoints = {name: save_checkpoint(folder / f"{name}.pt", arch, seed) for name, (arch, seed) in MODELS.items()}
    return archive, checkpoints


@pytest.fixture
def researcher_world(db, researcher_files, settings):
    """The photographs imported as an image set and both networks registered, through the real code."""
    from studies.stimuli.imports import import_image_set
    from studies.stimuli.registry import register_model

    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    archive, checkpoints = researcher_files
    with open(archive, "rb") as fh:
        image_set = import_image_set("researcher photos", fh)
    models = {
        name: register_model(name, arch, checkpoint=str(checkpoints[name]), categories=list(CATEGORIES))
        for name, (arch, _) in MODELS.items()
    }
    return ResearcherWorld(image_set, models, checkpoints)
