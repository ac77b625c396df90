"""Fixtures for the researcher's tools: the admin tests' tiny scenes and seeded random nets."""

import pytest

from tests.studies_admin.conftest import (  # noqa: F401 - fixtures used by these tests
    admin_page,
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
    from studies.stimuli.registry import register_model

    torch.manual_seed(3)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    path = tmp_path / "mobilenet.pt"
    torch.save(net.state_dict(), path)
    return register_model("mobile", "mobilenet_v3_small", checkpoint=str(path), categories=list(CLASSES))


@pytest.fixture
def demo_networks(db, shipped_demo_models, media_root):  # noqa: F811
    """The shipped demo networks, registered as the demo registers them: (strong, weak)."""
    from explain_engine.synthetic import CLASSES
    from studies.stimuli.registry import register_model

    paths = shipped_demo_models["paths"]
    return (
        register_model("Demo strong", "shapes_strong", checkpoint=paths["shapes_strong"], categories=list(CLASSES)),
        register_model("Demo weak", "shapes_weak", checkpoint=paths["shapes_weak"], categories=list(CLASSES)),
    )


@pytest.fixture
def demo_scenes(db, media_root):  # noqa: F811
    """The demo's image set: 80 scenes the networks never saw, the stripes cue going with "star"."""
    import io

    from studies.demo import IMAGE_SET_NAME, demo_image_zip
    from studies.stimuli.imports import import_image_set

    return import_image_set(IMAGE_SET_NAME, io.BytesIO(demo_image_zip()))


@pytest.fixture
def demo_explorer_world(demo_networks, db, media_root):  # noqa: F811
    """(strong demo network, a demo scene with a star and the stripes) for the browser test."""
    import io

    from studies.demo import demo_image_zip
    from studies.stimuli.imports import import_image_set

    few = import_image_set("Explorer scenes", io.BytesIO(demo_image_zip(n=6)))
    image = next(im for im in few.images.order_by("id") if any(b.get("cue") for b in im.boxes))
    return demo_networks[0], image


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

    from studies.stimuli.imports import import_image_set

    return import_image_set("cue scenes", io.BytesIO(cue_scenes_archive(12)))


def all_images_loaded(page) -> None:
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
