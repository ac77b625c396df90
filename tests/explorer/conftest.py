"""Fixtures for the researcher's tools: the admin tests' tiny scenes and seeded random nets."""

import pytest

from tests.studies_admin.conftest import (  # noqa: F401 - fixtures used by these tests
    media_root,
    scenes,
    strong_checkpoint,
    strong_model,
    weak_checkpoint,
    weak_model,
)


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path):
    """A fresh media root per test: the cache is keyed by content, and the seeded nets are the same
    in every test, so a shared root would serve one test the maps another computed."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def in_process_tasks(request):
    """The shipped default without a broker: `gpu` tasks run in the calling process (not for a test
    that asks for the real worker)."""
    from config.celery import app

    if "celery_worker" in request.fixturenames:
        yield
        return

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def hardswish_model(db, tmp_path, media_root):  # noqa: F811
    """A MobileNetV3 (Hardswish activations: the guided rule refuses it), random seeded weights."""
    import torch
    import torchvision

    from explain_engine.synthetic import CLASSES
    from studies.registry import register_model

    torch.manual_seed(3)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    path = tmp_path / "mobilenet.pt"
    torch.save(net.state_dict(), path)
    return register_model("mobile", "mobilenet_v3_small", checkpoint=str(path), categories=list(CLASSES))


@pytest.fixture
def demo_explorer_world(strong_model, scenes):  # noqa: F811
    """(model, image) for the browser test."""
    return strong_model, scenes.images.order_by("id").first()


def explorer_url(model, image, methods=("gradcam", "guided_backprop"), classes="", layer="") -> str:
    from urllib.parse import urlencode

    query = [("model", model.pk), ("image", image)] + [("methods", m) for m in methods]
    if classes:
        query.append(("classes", classes))
    if layer:
        query.append(("layer", layer))
    return "/staff/explorer/?" + urlencode(query)


def cue_scenes_archive(n: int, seed: int = 5, start: int = 0) -> bytes:
    """n demo scenes with the stripes cue going with "star", written as the demo writes them, zipped."""
    import io
    import tempfile
    import zipfile
    from pathlib import Path

    from explain_engine.synthetic import write_image_folder

    with tempfile.TemporaryDirectory() as tmp:
        write_image_folder(tmp, n, seed, bias="star", start=start)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for path in sorted(Path(tmp).iterdir()):
                zf.write(path, path.name)
        return buf.getvalue()


@pytest.fixture
def cue_scenes(db, media_root):  # noqa: F811
    import io

    from studies.imports import import_image_set

    return import_image_set("cue scenes", io.BytesIO(cue_scenes_archive(12)))
