"""Registering classifiers: load once through explain_engine, record target layer, sha256 and categories.

A model is either a torchvision architecture with a weights name (`DEFAULT`, `IMAGENET1K_V1`, ...)
or an architecture plus an uploaded checkpoint (a state dict). Checkpoints are only ever read with
`torch.load(weights_only=True)` (inside `explain_engine.load_model`), so a file that carries a
pickle payload is refused without running it.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction

from ..models import ClassifierModel
from . import media_cache

MAX_CATEGORIES = 100_000


class RegistrationRefused(Exception):
    """The model cannot be registered; the message says why."""


def parse_categories(text: str) -> list[str]:
    """Categories from a text file (one per line) or a JSON list of strings."""
    text = (text or "").lstrip("\ufeff").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RegistrationRefused(f"the categories file is not valid JSON ({exc})") from None
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise RegistrationRefused("a JSON categories file must be a list of non-empty strings")
        cats = [v.strip() for v in value]
    else:
        cats = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(cats) > MAX_CATEGORIES:
        raise RegistrationRefused(f"more than {MAX_CATEGORIES} categories")
    dupes = sorted({c for c in cats if cats.count(c) > 1})
    if dupes:
        raise RegistrationRefused(f"categories repeat: {', '.join(dupes[:10])}")
    return cats


def inspect_model(
    arch: str,
    weights_name: str = "",
    checkpoint_path: str | None = None,
    categories: list[str] | None = None,
    target_layer: str = "",
):
    """Load the model once on the CPU and return its explain_engine bundle. Raises RegistrationRefused."""
    arch = (arch or "").strip()
    weights_name = (weights_name or "").strip()
    if not arch:
        raise RegistrationRefused("choose an architecture")
    if bool(weights_name) == bool(checkpoint_path):
        raise RegistrationRefused("give either a torchvision weights name or a checkpoint file (exactly one)")
    from explain_engine import Explainer, load_model

    try:
        bundle = load_model(
            arch,
            weights=weights_name or None,
            checkpoint=checkpoint_path,
            categories=categories or None,
            device="cpu",
        )
    except (ValueError, FileNotFoundError, RuntimeError, KeyError, TypeError) as exc:
        raise RegistrationRefused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if checkpoint_path and not categories:
        from explain_engine.models import placeholder_categories

        if bundle.categories == placeholder_categories(bundle.num_classes):
            # Stimuli, trials and answers name classes; "class_3" would end up in a participant's options.
            raise RegistrationRefused(
                f"give the categories: the checkpoint has {bundle.num_classes} outputs and does not name them; "
                f"list {bundle.num_classes} class names, one per line, in the order of the outputs"
            )
    if target_layer:
        try:
            Explainer(bundle.module, target_layer)
        except (AttributeError, KeyError, ValueError, TypeError) as exc:
            raise RegistrationRefused(f"target layer {target_layer!r} is not a module of {arch} ({exc})") from None
        bundle.target_layer = target_layer
    return bundle


def register_model(
    name: str,
    arch: str,
    weights_name: str = "",
    checkpoint=None,
    categories=None,
    target_layer: str = "",
    notes: str = "",
    display: str = "standard",
) -> ClassifierModel:
    """Register a model. `checkpoint`: a path, or an uploaded/opened file. Writes nothing on refusal."""
    name = (name or "").strip()
    if not name:
        raise RegistrationRefused("the model needs a name")
    if ClassifierModel.objects.filter(name=name).exists():
        raise RegistrationRefused(f"a model named {name!r} already exists")
    with _checkpoint_on_disk(checkpoint) as ckpt_path:
        bundle = inspect_model(arch, weights_name, ckpt_path, categories, target_layer)
        model = ClassifierModel(
            name=name,
            arch=arch.strip(),
            weights_name=(weights_name or "").strip(),
            categories=list(bundle.categories),
            target_layer=bundle.target_layer,
            weights_sha256=bundle.weights_sha256,
            input_size=int(bundle.input_size[0]),
            display=display,
            notes=notes,
        )
        stored = None
        try:
            with transaction.atomic():
                if ckpt_path:
                    stored_name = f"checkpoints/{bundle.weights_sha256}.pt"
                    if default_storage.exists(stored_name):
                        stored = None
                        model.checkpoint.name = stored_name
                    else:
                        with open(ckpt_path, "rb") as fh:
                            stored = default_storage.save(stored_name, File(fh))
                        model.checkpoint.name = stored
                model.save()
        except BaseException:
            if stored:
                default_storage.delete(stored)
            raise
    return model


@contextmanager
def _checkpoint_on_disk(checkpoint):
    if checkpoint is None or checkpoint == "":
        yield None
        return
    if isinstance(checkpoint, (str, os.PathLike)):
        yield str(checkpoint)
        return
    path = getattr(checkpoint, "temporary_file_path", None)
    if callable(path):
        yield path()
        return
    fd, tmp = tempfile.mkstemp(suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(checkpoint, "chunks"):
                for chunk in checkpoint.chunks():
                    out.write(chunk)
            else:
                checkpoint.seek(0)
                for chunk in iter(lambda: checkpoint.read(1 << 20), b""):
                    out.write(chunk)
        yield tmp
    finally:
        os.unlink(tmp)


def load_bundle(model: ClassifierModel, device: str):
    """Load a registered model for generation and check that its weights are the registered ones."""
    from explain_engine import load_model

    options = {"categories": model.categories, "device": device, "display": model.display}
    if model.checkpoint:
        # Checkpoints are stored under their file's sha256, which registration recorded.
        path = media_cache.local_path(model.checkpoint, model.weights_sha256)
        bundle = load_model(model.arch, checkpoint=path, **options)
    else:
        bundle = load_model(model.arch, weights=model.weights_name or None, **options)
    if model.weights_sha256 and bundle.weights_sha256 != model.weights_sha256:
        raise RuntimeError(
            f"the weights of {model.name} changed since registration (sha256 {bundle.weights_sha256[:12]}, "
            f"registered {model.weights_sha256[:12]})"
        )
    if model.target_layer:
        bundle.target_layer = model.target_layer
    return bundle
