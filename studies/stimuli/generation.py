"""Stimulus generation: jobs, planning, chunks of work on the GPU workers, and their progress.

Plain functions that the admin, the Celery tasks, the management commands and the tests all call.
The configuration's checks are in configuration.py, content keys in content_keys.py, the trial bank
in the database in bank.py; launch and close in studies/lifecycle.py.

Generation in three steps (see studies/tasks.py for the Celery side):

1. `do_start_generation(study)` checks the configuration, creates a GenerationJob and (after the
   transaction commits) enqueues `gpu_plan_generation` on the `gpu` queue.
2. `do_plan(job_id, get_bundle)` computes predictions if the kind needs them (Prediction rows) and
   whatever else the kind measures with the networks (`TaskKind.measure`), builds the trial bank by
   the study's kind, upserts the Trial rows (bank.py), links every trial to the stimuli that
   already exist (by content key) and returns the missing work as chunks, one model per chunk.
3. `do_process_chunk(chunk, get_bundle)` runs each batch of images through `Explainer.explain`
   once for all methods and targets; a small thread pool renders, PNG-encodes and writes PNG and
   raw map through the default storage while the next batch's forward pass runs, and each batch's
   Stimulus rows are inserted with one `bulk_create` under the content key's unique constraint
   once all their files are written, so a chunk that is redelivered after a crash creates nothing
   twice and no row points at a partial file. Progress is recomputed from the database, never
   incremented, so it stays exact under redelivery; the last chunk marks the job done and the
   study ready.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from explain_engine.geometry import WHOLE

from .. import design
from ..kinds import KindContext, kind_of
from ..models import (
    GenerationFailure,
    GenerationJob,
    ImageItem,
    JobStatus,
    Prediction,
    Stimulus,
    Study,
    StudyStatus,
    Trial,
    TrialPanel,
)
from . import media_cache, textual
from .bank import link_trials, shortfall_text, sync_trials
from .configuration import StudyError, known_methods, study_config_errors
from .content_keys import Unit, engine_versions, unit_for
from .eligibility import Eligibility
from .geometry import model_geometry, provenance_record

log = logging.getLogger(__name__)

CHUNK_IMAGES = int(os.environ.get("GENERATION_CHUNK_IMAGES", "16"))  # images per Celery task
BATCH_IMAGES = 8  # images per forward pass
# Threads that render, PNG-encode and write stimuli beside the forward pass (zlib, numpy and
# boto3 release the GIL): one per core, as encoding is what they mostly do, up to 8. At most
# WRITE_DEPTH batches wait for them, which bounds the memory held.
WRITE_THREADS = int(os.environ.get("GENERATION_WRITE_THREADS") or min(8, os.cpu_count() or 1))
WRITE_DEPTH = 1
UNFINISHED = (JobStatus.PENDING, JobStatus.RUNNING)


# --- methods and configuration ----------------------------------------------------------------


# --- eligibility ------------------------------------------------------------------------------


# --- trial bank -------------------------------------------------------------------------------


# --- content keys -----------------------------------------------------------------------------


def make_chunks(job: GenerationJob, missing: list[Unit], chunk_images: int = CHUNK_IMAGES) -> list[dict]:
    """Group the missing units by model, then by image; photo crops go with their model's chunks.
    Methods that run many forward passes of their own (Score-CAM, Integrated Gradients...) get
    chunks of their own, so that every chunk costs about the same and the progress bar stays honest."""
    from explain_engine import METHODS

    by_model: dict[tuple, dict[int, list[Unit]]] = defaultdict(lambda: defaultdict(list))
    for unit in missing:
        method = METHODS.get(unit.method)
        by_model[(unit.model_id, unit.method if method and method.expensive else "")][unit.image_id].append(unit)
    chunks = []
    for model_id, own in sorted(by_model):
        images = sorted(by_model[(model_id, own)])
        for start in range(0, len(images), chunk_images):
            items = []
            for image_id in images[start : start + chunk_images]:
                units = by_model[(model_id, own)][image_id]
                items.append(
                    {
                        "image_id": image_id,
                        "units": [[u.method, u.target_class] for u in units],
                    }
                )
            chunks.append({"job_id": job.pk, "study_id": job.study_id, "model_id": model_id, "items": items})
    return chunks


# --- starting and planning --------------------------------------------------------------------
def do_start_generation(study: Study, force: bool = False, enqueue=None) -> GenerationJob:
    """Create a GenerationJob and enqueue its planning on the gpu queue once the transaction commits.

    Refused for a live or closed study, a configuration with errors, or while another job is unfinished
    (`force=True` marks such a job failed first, for a job whose workers are gone).
    """
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if not study.is_editable:
            raise StudyError(f"the study is {study.get_status_display().lower()}: its stimuli cannot change")
        errors = study_config_errors(study)
        if errors:
            raise StudyError("; ".join(errors))
        unfinished = study.generation_jobs.filter(status__in=UNFINISHED)
        if unfinished.exists():
            if not force:
                raise StudyError("a generation job is already running for this study")
            unfinished.update(status=JobStatus.FAILED, finished_at=timezone.now())
        job = GenerationJob.objects.create(study=study, status=JobStatus.PENDING)
        study.status = StudyStatus.GENERATING
        study.save(update_fields=["status", "updated_at"])
        if enqueue is None:
            from ..tasks import gpu_plan_generation

            def enqueue(job_id):
                gpu_plan_generation.delay(job_id)

        job_id = job.pk
        transaction.on_commit(lambda: enqueue(job_id))
    return job


def compute_predictions(images, model, bundle, batch: int = BATCH_IMAGES) -> dict[int, list[str]]:
    """Top-5 labels per image for a model; stored as Prediction rows (get-or-create, so idempotent)."""
    import torch

    have = {
        p.image_id: p.top_labels
        for p in Prediction.objects.filter(model=model, weights_sha256=model.weights_sha256, image__in=images)
    }
    todo = [im for im in images if im.id not in have]
    for group in _shape_batches(todo, bundle, batch):
        x = torch.stack([t for _, t, _ in group]).to(next(bundle.module.parameters()).device)
        with torch.inference_mode():
            scores = bundle.module(x).float().cpu()
        k = min(5, scores.shape[1])
        top = scores.topk(k, dim=1)
        for (im, _, _), idx, val in zip(group, top.indices.tolist(), top.values.tolist(), strict=True):
            labels = [model.categories[i] for i in idx]
            Prediction.objects.get_or_create(
                model=model,
                image=im,
                weights_sha256=model.weights_sha256,
                defaults={"top_labels": labels, "top_scores": [round(v, 6) for v in val]},
            )
            have[im.id] = labels
    return have


def do_plan(job_id: int, get_bundle) -> list[dict]:
    """Plan a job: predictions (if the kind needs them), bank, trials, links to existing stimuli;
    returns the missing chunks."""
    job = GenerationJob.objects.select_related("study").get(pk=job_id)
    if job.status not in UNFINISHED:
        return []
    study = Study.objects.select_related("model", "stronger_model", "weaker_model", "image_set").get(pk=job.study_id)
    GenerationJob.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=timezone.now())
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    try:
        kind = kind_of(study)
        eligible = kind.eligibility(study) or Eligibility([])
        context = KindContext(eligible.images, eligible.visible)
        if kind.needs_predictions:
            for model in kind.models(study):
                for image_id, labels in compute_predictions(eligible.images, model, get_bundle(model)).items():
                    context.predictions[(model.id, image_id)] = labels
        warnings = kind.measure(study, context, get_bundle) or []
        bank = kind.build_bank(study, context)
        study.eligible_image_count = len(eligible.images)
        study.surviving_image_count = kind.surviving_count(study, context, bank)
        with transaction.atomic():
            Study.objects.filter(pk=study.pk).update(
                eligible_image_count=study.eligible_image_count, surviving_image_count=study.surviving_image_count
            )
            sync_trials(study, bank)
            total, missing = link_trials(study)
            warning = "; ".join(filter(None, [shortfall_text(study), *warnings]))
            GenerationJob.objects.filter(pk=job.pk).update(total=total, warning=warning)
    except StudyError as exc:
        _fail_job(job, str(exc))
        return []
    except Exception as exc:
        log.exception("planning job %s failed", job.pk)
        _fail_job(job, f"planning failed: {type(exc).__name__}: {exc}")
        return []
    refresh_job(job.pk)
    return make_chunks(job, missing)


def _fail_job(job: GenerationJob, reason: str) -> None:
    GenerationFailure.objects.get_or_create(job=job, image=None, model=None, method="", reason=reason[:2000])
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, finished_at=timezone.now())
    Study.objects.filter(pk=job.study_id, status=StudyStatus.GENERATING).update(status=StudyStatus.DRAFT)


# --- processing chunks ------------------------------------------------------------------------
def _open_rgb(image: ImageItem):
    return media_cache.photograph_rgb(image)


def _shape_batches(images, bundle, batch: int):
    """Consecutive groups of (image, tensor, pil) with the same tensor shape, at most `batch` long."""
    group = []
    for im in images:
        pil = _open_rgb(im)
        t = bundle.preprocess(pil)
        if group and (len(group) >= batch or group[0][1].shape != t.shape):
            yield group
            group = []
        group.append((im, t, pil))
    if group:
        yield group


def _store(name: str, data: bytes) -> str:
    """Write a content-addressed file under exactly its name, replacing what is there: the name is
    the content, so a file left by a worker that died before its row was committed holds the same
    bytes and needs no existence check. S3's PUT replaces atomically (AWS_S3_FILE_OVERWRITE keeps the
    name). On the local disk the bytes go to a temporary file renamed into place, so the name never
    holds a partial file and is never given a suffix."""
    try:
        path = Path(default_storage.path(name))
    except NotImplementedError:  # Django's answer for a storage with no local path (S3): one PUT
        return default_storage.save(name, ContentFile(data))
    # Outside the public folder, so that a half-written file is never served.
    partial = Path(default_storage.location) / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=partial)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, default_storage.file_permissions_mode or 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


def photo_crop_png(image_rgb, boxes) -> bytes:
    """The photograph with everything outside the boxes greyed out (attention checks)."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(image_rgb, dtype=np.uint8)
    out = np.full_like(arr, 128)
    h, w = arr.shape[:2]
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(w, int(round(x1))), min(h, int(round(y1)))
        out[y0:y1, x0:x1] = arr[y0:y1, x0:x1]
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def plain_photo_png(image_rgb, geometry) -> bytes:
    """The photograph placed as the network sees it (`geometry`), without a map: the control arm's panel."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(geometry.apply(image_rgb), dtype=np.uint8)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _write_files(unit: Unit, png: bytes, raw) -> tuple[str, str]:
    import numpy as np

    png_name = _store(f"stimuli/{unit.key[:2]}/{unit.key}.png", png)
    raw_name = ""
    if raw is not None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(raw, dtype=np.float32), allow_pickle=False)
        raw_name = _store(f"maps/{unit.key[:2]}/{unit.key}.npy", buf.getvalue())
    return png_name, raw_name


def _stimulus_row(unit: Unit, model, image: ImageItem, files: tuple[str, str], score, provenance: dict) -> Stimulus:
    return Stimulus(
        content_key=unit.key,
        image=image,
        model=model,
        method=unit.method,
        target_class=unit.target_class,
        target_index=max(unit.target_index, 0),
        target_layer=model.target_layer,
        weights_sha256=model.weights_sha256,
        engine_version=unit.engine_version,
        recipe_version=unit.recipe_version,
        render_style=unit.style,
        png=files[0],
        raw_map=files[1],
        score=score,
        provenance=provenance,
    )


def _save_stimulus(unit: Unit, model, image: ImageItem, png: bytes, raw, score, provenance: dict) -> bool:
    """Write the files, then the row; True if this call created the stimulus. (The network's
    stimuli go through _PendingWrites instead, a batch at a time.)"""
    row = _stimulus_row(unit, model, image, _write_files(unit, png, raw), score, provenance)
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return False  # another worker made it first: same inputs, same bytes
    return True


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _write_pool() -> ThreadPoolExecutor:
    """One pool per process, kept across chunks (an S3 client per thread is built once)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="stimulus-write")
        return _pool


def _forget_pool_in_child() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_pool_in_child)


class _PendingWrites:
    """A chunk's network stimuli on their way to storage and the database.

    `add` hands a batch's rendering, encoding and writing to the write pool and returns, so the
    caller runs the next forward pass meanwhile; once more than WRITE_DEPTH batches wait, the oldest
    is finished: its files all written, its rows inserted with one bulk_create (ON CONFLICT DO
    NOTHING on the content key, so a redelivered chunk or a second worker creates nothing twice). A
    stimulus whose work raised is recorded as a failure with its reason, like any other."""

    def __init__(self, job_id: int, model, counts: dict):
        self.job_id, self.model, self.counts = job_id, model, counts
        self.batches: deque = deque()

    def add(self, work) -> None:
        """`work`: (unit, image, make_files, score, provenance) per stimulus; make_files() -> names."""
        pool = _write_pool()
        self.batches.append([(u, im, pool.submit(make), score, prov) for u, im, make, score, prov in work])
        while len(self.batches) > WRITE_DEPTH:
            self._finish(self.batches.popleft())

    def finish(self) -> None:
        while self.batches:
            self._finish(self.batches.popleft())

    def abandon(self) -> None:
        """Wait for what is in flight without inserting rows (files without a row are never served)."""
        while self.batches:
            wait([future for _, _, future, _, _ in self.batches.popleft()])

    def _finish(self, batch) -> None:
        rows = []
        for unit, image, future, score, prov in batch:
            try:
                files = future.result()
            except Exception as exc:  # noqa: BLE001 - recorded with its reason, shown in the admin
                log.exception("writing %s failed in job %s", unit.key, self.job_id)
                self.counts["failed"] += 1
                _record_failure(
                    self.job_id, image, self.model, unit.method, f"{unit.target_class}: {type(exc).__name__}: {exc}"
                )
                continue
            rows.append(_stimulus_row(unit, self.model, image, files, score, prov))
        if rows:
            # Rows another worker inserted meanwhile are skipped, yet counted as created here: the
            # counts are for the log; the job's progress is recounted from the database.
            Stimulus.objects.bulk_create(rows, ignore_conflicts=True)
            self.counts["created"] += len(rows)


def _record_failure(job_id: int, image, model, method: str, reason: str) -> None:
    GenerationFailure.objects.get_or_create(
        job_id=job_id, image=image, model=model, method=method, reason=reason[:2000]
    )


def _provenance(unit: Unit, model, image: ImageItem, study: Study, job_id: int, device: str, extra=None) -> dict:
    import torch

    prov = {
        "content_key": unit.key,
        "image": {
            "set": image.image_set.name,
            "filename": image.filename,
            "sha256": image.sha256,
            "size": [image.width, image.height],
            "labels": image.labels,
        },
        "model": {
            "name": model.name,
            "arch": model.arch,
            "weights_name": model.weights_name,
            "weights_sha256": model.weights_sha256,
            "target_layer": model.target_layer,
        },
        "method": unit.method,
        "target_class": unit.target_class,
        "target_index": unit.target_index,
        "render_style": unit.style,
        "engine_version": unit.engine_version,
        "recipe_version": unit.recipe_version,
        "colormap": unit.colormap,
        "torch": torch.__version__,
        "device": device,
        "generated_by": {"study": study.slug, "job": job_id},
        "generated_at": timezone.now().isoformat(),
    }
    if extra:
        prov.update(extra)
    return prov


def do_process_chunk(chunk: dict, get_bundle, device: str = "cpu", batch: int = BATCH_IMAGES) -> dict:
    """Generate a chunk's stimuli (idempotent). Returns counts {"created", "existing", "failed"}."""
    import torch

    from ..models import ClassifierModel

    job_id = chunk["job_id"]
    study = Study.objects.select_related("model", "stronger_model", "weaker_model").get(pk=chunk["study_id"])
    model = ClassifierModel.objects.get(pk=chunk["model_id"])
    kinds = known_methods()
    versions = engine_versions()
    images = {
        im.id: im
        for im in ImageItem.objects.select_related("image_set").filter(pk__in=[it["image_id"] for it in chunk["items"]])
    }
    counts = {"created": 0, "existing": 0, "failed": 0}

    # Work out the units still missing; photo crops and plain photographs need no network.
    units_of_item = []
    for item in chunk["items"]:
        image = images.get(item["image_id"])
        if image is not None:
            units_of_item.append(
                (image, [unit_for(study, image, model, m, t, kinds, versions) for m, t in item["units"]])
            )
    keys = [u.key for _, units in units_of_item for u in units]
    existing = set(Stimulus.objects.filter(content_key__in=keys).values_list("content_key", flat=True))
    net_items, crops, photos, texts = [], [], [], []
    for image, units in units_of_item:
        todo = [u for u in units if u.key not in existing]
        counts["existing"] += len(units) - len(todo)
        crops += [(image, u) for u in todo if u.method == design.ATTENTION_CROP]
        photos += [(image, u) for u in todo if u.method == design.NO_EXPLANATION]
        texts += [(image, u) for u in todo if u.method == textual.METHOD]
        rest = [u for u in todo if u.method not in (design.ATTENTION_CROP, design.NO_EXPLANATION, textual.METHOD)]
        if rest:
            net_items.append((image, rest))

    for image, unit in crops:
        try:
            boxes = image.boxes_for(unit.target_class)
            if not boxes:
                raise ValueError(f"{image.filename} has no ground-truth box for {unit.target_class}")
            png = photo_crop_png(_open_rgb(image), boxes)
            prov = _provenance(
                unit, model, image, study, job_id, "none", {"boxes": boxes, "display": provenance_record(WHOLE)}
            )
            counts["created" if _save_stimulus(unit, model, image, png, None, None, prov) else "existing"] += 1
        except Exception as exc:  # noqa: BLE001 - recorded with its reason, shown in the admin
            counts["failed"] += 1
            _record_failure(job_id, image, model, unit.method, f"{unit.target_class}: {type(exc).__name__}: {exc}")

    for image, unit in photos:
        try:
            geometry = model_geometry(model)
            png = plain_photo_png(_open_rgb(image), geometry)
            prov = _provenance(unit, model, image, study, job_id, "none", {"display": provenance_record(geometry)})
            counts["created" if _save_stimulus(unit, model, image, png, None, None, prov) else "existing"] += 1
        except Exception as exc:  # noqa: BLE001 - recorded with its reason, shown in the admin
            counts["failed"] += 1
            _record_failure(job_id, image, model, unit.method, f"{type(exc).__name__}: {exc}")

    for image, unit in texts:
        counts[textual.do_text_stimulus(unit, model, image, study, job_id, get_bundle)] += 1

    if net_items:
        try:
            bundle = get_bundle(model)
        except Exception as exc:  # noqa: BLE001
            for image, units in net_items:
                for unit in units:
                    counts["failed"] += 1
                    _record_failure(job_id, image, model, unit.method, f"cannot load {model.name}: {exc}")
            net_items = []
        if net_items:
            from explain_engine import Explainer

            explainer = Explainer(bundle.module, model.target_layer or bundle.target_layer)
            units_of = {image.id: units for image, units in net_items}
            writes = _PendingWrites(job_id, model, counts)
            try:
                for group in _shape_batches([image for image, _ in net_items], bundle, batch):
                    try:
                        work = _explain_group(group, units_of, bundle, explainer, model, study, job_id, device, torch)
                    except Exception as exc:  # noqa: BLE001
                        log.exception("batch failed in job %s", job_id)
                        for im, _, _ in group:
                            for unit in units_of[im.id]:
                                counts["failed"] += 1
                                _record_failure(
                                    job_id, im, model, unit.method, f"{unit.target_class}: {type(exc).__name__}: {exc}"
                                )
                        continue
                    writes.add(work)
                writes.finish()
            finally:
                writes.abandon()
    link_trials(study)
    refresh_job(job_id)
    return counts


def _explain_group(group, units_of, bundle, explainer, model, study, job_id, device, torch) -> list:
    """One forward pass for a batch; returns the batch's stimuli as work for _PendingWrites
    (rendering and encoding happen there, in the write pool)."""
    methods = sorted({u.method for im, _, _ in group for u in units_of[im.id]})
    targets_per_image = []
    for im, _, _ in group:
        targets = list(dict.fromkeys(u.target_index for u in units_of[im.id]))
        targets_per_image.append(targets)
    k = max(len(t) for t in targets_per_image)
    padded = [t + [t[0]] * (k - len(t)) for t in targets_per_image]  # padding repeats a target; ignored
    dev = next(bundle.module.parameters()).device
    x = torch.stack([t for _, t, _ in group]).to(dev)
    out = explainer.explain(x, torch.tensor(padded, dtype=torch.long, device=dev), methods=tuple(methods))
    scores = out.scores.cpu()
    maps = {m: out[m].cpu().numpy() for m in methods}
    work = []
    for i, (im, _, pil) in enumerate(group):
        display = bundle.display(pil) if bundle.display else None
        for unit in units_of[im.id]:
            kk = targets_per_image[i].index(unit.target_index)
            raw = maps[unit.method][i, kk]
            score = float(scores[i, unit.target_index])
            prov = _provenance(
                unit,
                model,
                im,
                study,
                job_id,
                str(dev),
                {"score": score, "input_size": list(x.shape[-2:]), "display": provenance_record(bundle.geometry)},
            )
            prov["method_params"] = out.params[unit.method]
            work.append((unit, im, _render_and_write(unit, display, raw), score, prov))
    return work


def _render_and_write(unit: Unit, display, raw):
    def make() -> tuple[str, str]:
        from explain_engine.render import render_stimulus

        style = "auto" if unit.style == "gradient" else unit.style
        png = render_stimulus(unit.method, display, raw, style=style, colormap=unit.colormap or "jet")
        return _write_files(unit, png, raw)

    return make


# --- trials per participant -------------------------------------------------------------------


# --- progress ---------------------------------------------------------------------------------
def linked_stimuli(study_id: int):
    panels = TrialPanel.objects.filter(trial__study_id=study_id, trial__retired_at__isnull=True)
    return Stimulus.objects.filter(pk__in=panels.values("stimulus"))


def refresh_job(job_id: int) -> GenerationJob:
    """Recompute a job's counts from the database; finish it (and make the study ready) when complete."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        done = linked_stimuli(job.study_id).count()
        failed = job.failures.exclude(image=None).count()
        job.done = min(done, job.total) if job.total else done
        job.failed = failed
        fields = ["done", "failed"]
        if job.status in UNFINISHED and job.total and job.done + job.failed >= job.total:
            job.status = JobStatus.DONE if job.done >= job.total else JobStatus.FAILED
            job.finished_at = timezone.now()
            fields += ["status", "finished_at"]
            study = Study.objects.select_for_update().get(pk=job.study_id)
            if study.status == StudyStatus.GENERATING:
                study.status = StudyStatus.READY if stimuli_complete(study) else StudyStatus.DRAFT
                study.save(update_fields=["status", "updated_at"])
        elif job.status in UNFINISHED and job.total == 0 and job.started_at and job.status == JobStatus.RUNNING:
            # Planned, and nothing qualifies: a job with nothing to do is done but the study is not ready.
            if Trial.objects.filter(study_id=job.study_id).count() == 0:
                job.status = JobStatus.FAILED
                job.finished_at = timezone.now()
                fields += ["status", "finished_at"]
                GenerationFailure.objects.get_or_create(
                    job=job,
                    image=None,
                    model=None,
                    method="",
                    reason="no image qualifies for this study (check labels, categories and predictions)",
                )
                Study.objects.filter(pk=job.study_id, status=StudyStatus.GENERATING).update(status=StudyStatus.DRAFT)
        job.save(update_fields=fields)
    return job


def stimuli_complete(study: Study) -> bool:
    trials = Trial.objects.filter(study=study)
    if not trials.exists():
        return False
    if trials.filter(panels__isnull=True).exists():  # a trial not linked yet
        return False
    return not TrialPanel.objects.filter(trial__in=trials, stimulus__isnull=True).exists()


def latest_job(study: Study) -> GenerationJob | None:
    return study.generation_jobs.order_by("-created_at", "-pk").first()


def generation_progress(study: Study, failures_limit: int = 50) -> dict:
    """Counts, rate and time left of the latest job, with its failures (for the JSON endpoint and commands)."""
    job = latest_job(study)
    data = {
        "study": study.slug,
        "study_status": study.status,
        "eligible_image_count": study.eligible_image_count,
        "surviving_image_count": study.surviving_image_count,
        "trials": study.trials.count(),
        "stimuli_complete": stimuli_complete(study),
        "job": None,
        "failures": [],
    }
    if job is None:
        return data
    now = timezone.now()
    elapsed = (((job.finished_at or now) - job.started_at).total_seconds()) if job.started_at else 0.0
    made = 0
    if job.started_at:
        made = linked_stimuli(study.pk).filter(created_at__gte=job.started_at).count()
    rate = made / elapsed if elapsed > 0 and made else 0.0
    remaining = max(job.total - job.done - job.failed, 0)
    eta = (remaining / rate) if rate > 0 and job.status in UNFINISHED else (0.0 if remaining == 0 else None)
    data["job"] = {
        "id": job.pk,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "remaining": remaining,
        "percent": round(100.0 * job.done / job.total, 1) if job.total else 0.0,
        "rate_per_s": round(rate, 3),
        "eta_s": None if eta is None else round(eta, 1),
        "elapsed_s": round(elapsed, 1),
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "warning": job.warning,
    }
    data["failures"] = [
        {
            "image": f.image.filename if f.image else None,
            "model": f.model.name if f.model else None,
            "method": f.method,
            "reason": f.reason,
            "at": f.created_at.isoformat(),
        }
        for f in job.failures.select_related("image", "model").order_by("created_at")[:failures_limit]
    ]
    return data


# --- launch and close -------------------------------------------------------------------------
