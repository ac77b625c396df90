"""The explorer: one image, one registered model, any classes and methods, maps side by side (the paper's demo).

The view (studies/tools/explorer_views.py) checks the request and hands it to the `gpu` queue
(`gpu_explore`, in-process in the eager default); `do_explore` runs on the worker. Every tile (one
method for one class) is cached in the default storage under a content key: the hash of the image,
the weights, the layer, the method, the target and the engine and recipe versions, so a repeated
request runs no network. An uploaded image is kept in that cache too, under its sha256, so that a
worker without a shared disk can read it; nothing else is stored.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from ..models import ClassifierModel, ImageItem

CACHE_DIR = "explorer"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_CLASSES = 10
DEFAULT_TOP = 5
TILE_FILES = {"overlay.png": "image/png", "raw.png": "image/png", "map.npy": "application/octet-stream"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ExplorerError(Exception):
    """A request the explorer refuses; the message says why (shown on the page with a 400)."""


# --- uploads ----------------------------------------------------------------------------------
def upload_name(sha256: str) -> str:
    return f"{CACHE_DIR}/uploads/{sha256[:2]}/{sha256}"


def do_store_upload(name: str, data: bytes) -> str:
    """Check an uploaded image and keep it in the cache; returns its sha256. Refuses non-images and big files."""
    from ..stimuli.imports import check_image

    if not data:
        raise ExplorerError("the uploaded file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ExplorerError(f"the upload is {len(data) / 1e6:.1f} MB; at most {MAX_UPLOAD_BYTES // 1_000_000} MB")
    checked = check_image(name or "upload", data)
    if isinstance(checked, str):
        raise ExplorerError(checked)
    sha = hashlib.sha256(data).hexdigest()
    if not default_storage.exists(upload_name(sha)):
        default_storage.save(upload_name(sha), ContentFile(data))
    return sha


def is_upload(sha256: str) -> bool:
    return bool(_HEX64.match(sha256 or "")) and default_storage.exists(upload_name(sha256))


# --- the cache --------------------------------------------------------------------------------
def tile_key(*, image_sha256: str, model: ClassifierModel, layer: str, method: str, target_index: int) -> str:
    from ..stimuli.content_keys import engine_versions

    engine_version, recipe_version = engine_versions()
    parts = {
        "image": image_sha256,
        "arch": model.arch,
        "weights": model.weights_sha256,
        "weights_name": model.weights_name,
        "layer": layer,
        "method": method,
        "target": int(target_index),
        "engine": engine_version,
        "recipe": recipe_version,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def tile_path(key: str, filename: str) -> str:
    if not _HEX64.match(key) or filename not in TILE_FILES:
        raise ExplorerError("no such explorer file")
    return f"{CACHE_DIR}/tiles/{key[:2]}/{key}/{filename}"


def _save(name: str, data: bytes) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


# --- the request ------------------------------------------------------------------------------
def known_methods() -> list[str]:
    """Every method of the engine's registry (new ones appear here without a change)."""
    from explain_engine import METHODS

    return list(METHODS)


def check_request(model: ClassifierModel, classes: list[str], methods: list[str]) -> None:
    """Refuse classes the model does not have and methods the engine does not know."""
    unknown = [c for c in classes if c not in model.categories]
    if unknown:
        raise ExplorerError(f"{model.name} has no class {', '.join(map(repr, unknown))}")
    if len(classes) > MAX_CLASSES:
        raise ExplorerError(f"at most {MAX_CLASSES} classes at a time")
    if not methods:
        raise ExplorerError("choose at least one method")
    bad = [m for m in methods if m not in known_methods()]
    if bad:
        raise ExplorerError(f"unknown method {', '.join(map(repr, bad))}")


def _open_image(spec: dict):
    from PIL import Image

    if spec.get("upload"):
        sha = spec["upload"]
        if not is_upload(sha):
            raise ExplorerError("the uploaded image is no longer in the cache; upload it again")
        with default_storage.open(upload_name(sha), "rb") as fh:
            data = fh.read()
    else:
        item = ImageItem.objects.filter(pk=spec.get("item")).first()
        if item is None:
            raise ExplorerError("no such image")
        with item.file.open("rb") as fh:
            data = fh.read()
        sha = item.sha256
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB"), sha


def ensure_tiles(model, bundle, pil, image_sha: str, layer: str, methods, targets, x=None):
    """Make sure every (method, target) map of one image is in the cache; one engine call computes the
    missing methods for all targets. Returns ({(method, target): key}, methods computed, {method: why
    the engine refused it})."""
    import numpy as np
    import torch

    from explain_engine import METHODS, Explainer, UnsupportedActivationError

    keys = {
        (m, t): tile_key(image_sha256=image_sha, model=model, layer=layer, method=m, target_index=t)
        for m in methods
        for t in targets
    }
    missing = sorted({m for (m, _), k in keys.items() if not default_storage.exists(tile_path(k, "map.npy"))})
    refused: dict[str, str] = {}
    if missing:
        from explain_engine.render import heatmap_png, render_stimulus

        dev = next(bundle.module.parameters()).device
        x = bundle.preprocess(pil)[None].to(dev) if x is None else x
        display = bundle.display(pil) if bundle.display else np.asarray(pil)
        explainer = Explainer(bundle.module, layer)
        target_t = torch.tensor([targets], dtype=torch.long, device=dev)
        try:
            out = explainer.explain(x, target_t, methods=tuple(missing))
        except UnsupportedActivationError as exc:
            gradient = [m for m in missing if METHODS[m].kind == "gradient"]
            refused = {m: str(exc) for m in gradient}
            missing = [m for m in missing if m not in gradient]
            out = explainer.explain(x, target_t, methods=tuple(missing)) if missing else {}
        for m in missing:
            maps = out[m][0].cpu().numpy()
            for j, t in enumerate(targets):
                raw = maps[j]
                key = keys[(m, t)]
                overlay = render_stimulus(m, display, raw)
                plain = heatmap_png(raw, display.shape[:2]) if METHODS[m].kind == "cam" else overlay
                buf = io.BytesIO()
                np.save(buf, np.asarray(raw, dtype=np.float32), allow_pickle=False)
                _save(tile_path(key, "overlay.png"), overlay)
                _save(tile_path(key, "raw.png"), plain)
                _save(tile_path(key, "map.npy"), buf.getvalue())  # written last: its presence marks the tile done

    return keys, missing, refused


def do_explore(request: dict, get_bundle, device: str = "cpu") -> dict:
    """Maps of every (method, class) for one image; returns the page's data, or {"error": reason}.

    `request`: {"model": id, "image": {"item": id} or {"upload": sha256}, "classes": [...] (empty:
    the top 5), "methods": [...], "layer": "" (the model's target layer)}.
    """
    try:
        return _explore(request, get_bundle, device)
    except ExplorerError as exc:
        return {"error": str(exc)}


def _explore(request: dict, get_bundle, device: str) -> dict:
    import torch

    from explain_engine import METHODS
    from explain_engine.dissect import conv_layers

    model = ClassifierModel.objects.filter(pk=request.get("model")).first()
    if model is None:
        raise ExplorerError("no such model")
    classes, methods = list(request.get("classes") or []), list(request.get("methods") or [])
    check_request(model, classes, methods)
    pil, image_sha = _open_image(request.get("image") or {})
    bundle = get_bundle(model)
    default = model.target_layer or bundle.target_layer
    layers = conv_layers(bundle.module)
    if default and default not in layers:
        layers.append(default)
    layer = request.get("layer") or default
    if layer not in layers:
        raise ExplorerError(f"{model.name} has no convolutional layer {layer!r}")
    dev = next(bundle.module.parameters()).device
    x = bundle.preprocess(pil)[None].to(dev)
    with torch.inference_mode():
        logits = bundle.module(x)[0].float().cpu()
    top = logits.topk(min(DEFAULT_TOP, logits.shape[0])).indices.tolist()
    if not classes:
        classes = [model.categories[i] for i in top]
    targets = [model.categories.index(c) for c in classes]

    keys, missing, refused = ensure_tiles(model, bundle, pil, image_sha, layer, methods, targets, x=x)
    meta_of = {k: tile_path(k, "map.npy") for k in keys.values()}

    probs = torch.sigmoid(logits) if bundle.arch.startswith("shapes_") else torch.softmax(logits, 0)
    tiles = []
    for t, c in zip(targets, classes):
        row = {
            "class": c,
            "index": t,
            "score": round(float(logits[t]), 4),
            "prob": round(float(probs[t]), 4),
            "maps": [],
        }
        for m in methods:
            key = keys[(m, t)]
            done = default_storage.exists(meta_of[key])
            error = refused.get(m) or ("" if done else "not computed")
            row["maps"].append({"method": m, "kind": METHODS[m].kind, "key": key, "error": error})
        tiles.append(row)
    return {
        "model": model.pk,
        "model_name": model.name,
        "image_sha256": image_sha,
        "layer": layer,
        "default_layer": default,
        "layers": layers,
        "classes": classes,
        "methods": methods,
        "top": [
            {"class": model.categories[i], "score": round(float(logits[i]), 4), "prob": round(float(probs[i]), 4)}
            for i in top
        ],
        "rows": tiles,
        "computed": missing,
        "refused": refused,
        "device": device,
    }
