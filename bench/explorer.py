"""Benchmark: the explorer page for 3 classes x 4 methods on the demo networks (target: within 2 s).

    .venv/bin/python bench/explorer.py [--images 5] [--threads 2]

Builds a throw-away site (SQLite and a media folder in a temporary directory, tasks in-process as in
the default set-up), registers the shipped demo networks and a few demo scenes, and times whole
GET requests of /staff/explorer/ through Django's test client, signed in as staff:

* first: the first request of the process (loads the network; a fresh cache);
* new image: an image not seen before, network loaded (the usual case);
* cached: the same request again (served from the content-keyed cache).

Prints the median and the maximum seconds of each, per network.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METHODS = ("gradcam", "guided_backprop", "guided_gradcam", "counterfactual_gradcam")
CLASSES = "star,circle,ring"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(key, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="testserver",
        SECURE_COOKIES="0",
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp / "media"),
        TORCH_DEVICE="cpu",
        STATICFILES_STORAGE="django.contrib.staticfiles.storage.StaticFilesStorage",
    )
    import torch

    torch.set_num_threads(args.threads)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from explain_engine.demo_train import load_shipped_demo_models
    from explain_engine.synthetic import CLASSES as SHAPES
    from studies.demo import demo_image_zip
    from studies.stimuli.imports import import_image_set
    from studies.stimuli.registry import register_model

    setup_test_environment()
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # one line per task would drown the table
    call_command("migrate", verbosity=0)
    manifest = load_shipped_demo_models(progress=None)
    models = [
        register_model(arch, arch, checkpoint=manifest["paths"][arch], categories=list(SHAPES))
        for arch in ("shapes_strong", "shapes_weak")
    ]
    image_set = import_image_set("bench", __import__("io").BytesIO(demo_image_zip(n=args.images * 2 + 1)))
    images = list(image_set.images.order_by("id"))
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("bench", password="x", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)

    def get(model, image) -> float:
        query = "&".join([f"model={model.pk}", f"image=item:{image.pk}", f"classes={CLASSES}"])
        query += "".join(f"&methods={m}" for m in METHODS)
        started = time.perf_counter()
        response = client.get(f"/staff/explorer/?{query}")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:500]
        assert response.content.count(b'data-testid="explorer-tile"') == 12
        return elapsed

    print(f"explorer: 3 classes x 4 methods ({', '.join(METHODS)}), {args.threads} threads, torch {torch.__version__}")
    print(f"{'network':<16}{'first':>8}{'new image (median/max)':>26}{'cached (median/max)':>24}")
    for k, model in enumerate(models):
        first = get(model, images[0])
        fresh = [get(model, im) for im in images[1 + k * args.images : 1 + (k + 1) * args.images]]
        cached = [get(model, im) for im in images[1 + k * args.images : 1 + (k + 1) * args.images]]
        print(
            f"{model.name:<16}{first:>7.3f}s"
            f"{statistics.median(fresh):>17.3f}s / {max(fresh):.3f}s"
            f"{statistics.median(cached):>15.3f}s / {max(cached):.3f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
