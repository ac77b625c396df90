"""Fixtures for the admin, import, registration and generation tests: tiny scenes and tiny random nets."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from explain_engine.synthetic import CLASSES, format_boxes, make_scene

SIDE = 128  # the demo nets' input size


def scene_png(index: int, seed: int = 7) -> tuple[bytes, list[str], dict]:
    from PIL import Image

    scene = make_scene(seed, index)
    buf = io.BytesIO()
    Image.fromarray(scene.image).save(buf, format="PNG")
    return buf.getvalue(), scene.labels, scene.boxes


def build_zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buf.getvalue()


def labels_csv(rows: list[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["filename", "labels", "boxes"])
    writer.writerows(rows)
    return out.getvalue().encode()


def scenes_archive(n: int = 4, seed: int = 7, labels_override=None) -> bytes:
    """n synthetic two-object scenes (128x128 PNG) with a labels.csv, as a zip."""
    entries, rows = {}, []
    for i in range(n):
        png, labels, boxes = scene_png(i, seed)
        if labels_override is not None:
            labels, boxes = labels_override(i, labels, boxes)
        name = f"scene_{i:03d}.png"
        entries[f"images/{name}"] = png
        rows.append((name, ";".join(labels), format_boxes(boxes)))
    entries["images/labels.csv"] = labels_csv(rows)
    return build_zip(entries)


@pytest.fixture
def media_root():
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def files_under(root: Path, folder: str) -> list[Path]:
    base = root / folder
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def save_random_net(
    path: Path, arch: str = "shapes_strong", seed: int = 0, favour: str | None = None, categories=CLASSES
) -> Path:
    """A seeded random ShapesNet state dict; `favour` makes one class win every image (for trust tests)."""
    import torch

    from explain_engine.demo_nets import DEMO_ARCHITECTURES

    torch.manual_seed(seed)
    net = DEMO_ARCHITECTURES[arch](len(categories))
    if favour is not None:
        with torch.no_grad():
            net.classifier.bias[list(categories).index(favour)] += 50.0
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def strong_checkpoint(tmp_path):
    return save_random_net(tmp_path / "strong.pt", "shapes_strong", seed=1, favour="circle")


@pytest.fixture
def weak_checkpoint(tmp_path):
    return save_random_net(tmp_path / "weak.pt", "shapes_weak", seed=2, favour="circle")


@pytest.fixture
def strong_model(db, strong_checkpoint, media_root):
    from studies.stimuli.registry import register_model

    return register_model("strong", "shapes_strong", checkpoint=str(strong_checkpoint), categories=list(CLASSES))


@pytest.fixture
def weak_model(db, weak_checkpoint, media_root):
    from studies.stimuli.registry import register_model

    return register_model("weak", "shapes_weak", checkpoint=str(weak_checkpoint), categories=list(CLASSES))


@pytest.fixture
def scenes(db, media_root):
    """Four scenes, each with two labels and boxes."""
    from studies.stimuli.imports import import_image_set

    return import_image_set("scenes", io.BytesIO(scenes_archive(4)))


@pytest.fixture
def cd_study(db, scenes, strong_model):
    from studies.models import Study

    return Study.objects.create(
        name="Class discrimination",
        slug="cd",
        kind="class_discrimination",
        methods=["gradcam", "guided_backprop"],
        design="between",
        model=strong_model,
        image_set=scenes,
        trials_per_participant=4,
        seed=11,
        attention_checks_per_participant=1,
    )


@pytest.fixture
def trust_study(db, media_root, strong_model, weak_model):
    """Five scenes, all labelled circle plus their own second object except the last (no circle)."""
    from studies.models import Study
    from studies.stimuli.imports import import_image_set

    def relabel(i, labels, boxes):
        if i == 4:
            return ["star"], {"star": (0, 0, 10, 10)}
        return ["circle"], {"circle": (0, 0, 64, 64)}

    images = import_image_set("trust-scenes", io.BytesIO(scenes_archive(5, seed=9, labels_override=relabel)))
    return Study.objects.create(
        name="Trust",
        slug="trust",
        kind="trust",
        methods=["gradcam", "guided_gradcam"],
        design="within",
        stronger_model=strong_model,
        weaker_model=weak_model,
        image_set=images,
        trials_per_participant=3,
        seed=5,
        attention_checks_per_participant=1,
    )


@pytest.fixture
def admin_page(browser, live_server, transactional_db, researcher):
    """Rosa signed in to the admin through its login form."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "rosa")
    page.fill("#id_password", "rosa-password-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.js_errors = errors
    try:
        yield page
    finally:
        context.close()
