"""Loading classifiers: torchvision architectures and the demo-world ShapesNets."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .demo_nets import DEMO_ARCHITECTURES, DEMO_MEAN, DEMO_STD, DEMO_TARGET_LAYER
from .geometry import DISPLAY_CHOICES, WHOLE, DisplayGeometry
from .layers import family_target_layer

DEMO_INPUT_SIZE = (128, 128)
PICKLED_CHECKPOINT = (
    "this checkpoint contains pickled Python objects; save a state_dict with torch.save(model.state_dict())"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class ModelBundle:
    module: nn.Module  # eval mode, on the device
    arch: str
    target_layer: str  # dotted module name
    categories: list[str]
    preprocess: Callable  # PIL.Image -> float tensor (3, H, W)
    weights_sha256: str
    input_size: tuple[int, int]  # (H, W) of the preprocessed tensor
    display: Callable = field(repr=False, default=None)  # PIL.Image -> uint8 (H, W, 3), same geometry
    weights: str | None = None  # torchvision weights name, "checkpoint" or "random"
    geometry: DisplayGeometry = WHOLE  # how preprocess and display place the photograph

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    def explainer(self):
        from .core import Explainer

        return Explainer(self.module, self.target_layer)


def known_architectures() -> list[str]:
    import torchvision

    return sorted(DEMO_ARCHITECTURES) + sorted(torchvision.models.list_models(module=torchvision.models))


def state_dict_sha256(state_dict) -> str:
    """sha256 over (name, dtype, shape, bytes) of every tensor, names sorted."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_checkpoint(path):
    """A state dict from ``torch.load(weights_only=True)``; a dict with a
    ``state_dict`` entry (and optionally ``categories``) is accepted too."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch.load(weights_only=True) refuses any pickled object that is not a tensor or a container
        # of tensors: a whole saved module, an optimizer, custom classes. Its own text is a terminal
        # page with colour codes; say what to do instead.
        raise ValueError(PICKLED_CHECKPOINT) from None
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file
        first = _ANSI.sub("", str(e)).strip().splitlines()
        raise ValueError(
            f"cannot read the checkpoint: not a file written by torch.save ({first[0] if first else type(e).__name__})"
        ) from None
    categories = None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        cats = obj.get("categories")
        if isinstance(cats, (list, tuple)) and all(isinstance(c, str) for c in cats):
            categories = list(cats)
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"checkpoint {path} is not a state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj, categories


def placeholder_categories(n: int) -> list[str]:
    """The names a model gets when neither the caller nor the checkpoint names its classes."""
    return [f"class_{i}" for i in range(n)]


def _examples(names, n: int = 3) -> str:
    return ", ".join(list(names)[:n])


def check_fit(model: nn.Module, state_dict, arch: str, categories_given: int | None) -> None:
    """Why a state dict cannot load into ``model``, in a sentence, before torch lists every key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        examples = []
        if missing:
            examples.append(f"missing {_examples(missing)}")
        if unexpected:
            examples.append(f"unexpected {_examples(unexpected)}")
        raise ValueError(
            f"the checkpoint does not match {arch}: {len(missing)} missing and {len(unexpected)} unexpected keys, "
            f"e.g. {'; '.join(examples)}"
        )
    head = _head_size(state_dict)
    if categories_given is not None and head is not None and head != categories_given:
        raise ValueError(f"{categories_given} categories given, the checkpoint has {head} outputs")
    wrong = [k for k, v in expected.items() if tuple(state_dict[k].shape) != tuple(v.shape)]
    if wrong:
        k = wrong[0]
        shape = "x".join(map(str, state_dict[k].shape))
        want = "x".join(map(str, expected[k].shape))
        raise ValueError(
            f"the checkpoint does not match {arch}: {len(wrong)} tensors have other shapes, "
            f"e.g. {k} is {shape} in the checkpoint and {want} in {arch}"
        )


def _head_size(state_dict) -> int | None:
    """Number of classes: rows of the last 2-D weight in the state dict."""
    last = None
    for k, v in state_dict.items():
        if k.endswith("weight") and v.ndim == 2:
            last = v
    return int(last.shape[0]) if last is not None else None


_DEMO_MEAN = np.asarray(DEMO_MEAN, dtype=np.float32).reshape(3, 1, 1)
_DEMO_STD = np.asarray(DEMO_STD, dtype=np.float32).reshape(3, 1, 1)


def _demo_preprocess(img) -> torch.Tensor:
    """RGB in [0, 1], normalized as in training (demo_train.preprocess), no resizing.

    In numpy: the same float32 values as torch's operators, without a round trip through torch's
    thread pool for a small image (0.2 ms against 2.2 ms, and far more while a generation worker's
    write threads share the cores)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy((np.ascontiguousarray(arr.transpose(2, 0, 1)) - _DEMO_MEAN) / _DEMO_STD)


def _geometry_preprocess(geometry: DisplayGeometry, normalize: Callable) -> Callable:
    def preprocess(img) -> torch.Tensor:
        return normalize(geometry.apply(img.convert("RGB")))

    return preprocess


def _geometry_display(geometry: DisplayGeometry) -> Callable:
    def display(img) -> np.ndarray:
        return np.asarray(geometry.apply(img.convert("RGB")), dtype=np.uint8).copy()

    return display


def _tv_normalize(transforms) -> Callable:
    """The tensor half of torchvision's ImageClassification transform (its geometry is ours)."""
    from torchvision.transforms import functional as TF

    def normalize(img) -> torch.Tensor:
        x = TF.convert_image_dtype(TF.pil_to_tensor(img), torch.float)
        return TF.normalize(x, mean=transforms.mean, std=transforms.std)

    return normalize


def _tv_weights(arch: str, weights: str | None):
    import torchvision

    if arch not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(known_architectures())}")
    wenum = torchvision.models.get_model_weights(arch)
    if weights is None:
        return wenum.DEFAULT
    try:
        return wenum.DEFAULT if weights == "DEFAULT" else wenum[weights]
    except KeyError:
        raise ValueError(
            f"unknown weights {weights!r} for {arch}; known: DEFAULT, {', '.join(w.name for w in wenum)}"
        ) from None


def display_geometry(arch: str, weights: str | None = None, display: str = "standard") -> DisplayGeometry:
    """The geometry a model of `arch` applies to photographs, without building the network.

    ``display``: "standard" (the architecture's own transform: torchvision resizes the shorter side
    and keeps the centre crop; the demo networks see the whole scene) or "pad_square" (the whole
    photograph, padded to a square).
    """
    if display not in DISPLAY_CHOICES:
        raise ValueError(f"unknown display {display!r}; known: {', '.join(DISPLAY_CHOICES)}")
    if arch in DEMO_ARCHITECTURES:
        if display == "pad_square":
            fill = tuple(int(round(255 * m)) for m in DEMO_MEAN)
            return DisplayGeometry("pad_square", crop=DEMO_INPUT_SIZE, fill=fill)
        return WHOLE
    transforms = _tv_weights(arch, weights).transforms()
    size = list(transforms.crop_size or [224])
    crop = (size[0], size[-1])  # torchvision gives one number for a square crop
    interpolation = transforms.interpolation.value
    if display == "pad_square":
        fill = tuple(int(round(255 * m)) for m in transforms.mean)
        return DisplayGeometry("pad_square", crop=crop, interpolation=interpolation, fill=fill)
    return DisplayGeometry("resize_crop", resize=int(transforms.resize_size[0]), crop=crop, interpolation=interpolation)


def load_model(
    arch: str,
    weights: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    num_classes: int | None = None,
    categories: list[str] | None = None,
    device: str | torch.device = "cpu",
    display: str = "standard",
) -> ModelBundle:
    """Build ``arch`` (a torchvision classifier name or a demo architecture) and load weights.

    ``weights``: a torchvision weights name ("DEFAULT", "IMAGENET1K_V1"), or None for
    random initialisation (seed it with ``torch.manual_seed``). ``checkpoint``: a
    state-dict file, read with ``torch.load(weights_only=True)``. ``num_classes``:
    the head size (default: ``len(categories)``, else the checkpoint's last layer,
    else the architecture's default). ``categories``: class names. ``display``: see
    ``display_geometry``; preprocess and display share that one geometry.
    """
    if weights is not None and checkpoint is not None:
        raise ValueError("give either weights or checkpoint, not both")
    categories_given = None if categories is None else len(categories)
    if categories is not None:
        categories = [str(c) for c in categories]
        if num_classes is not None and num_classes != len(categories):
            raise ValueError(f"num_classes={num_classes} but {len(categories)} categories given")
        num_classes = len(categories)
    state_dict = None
    if checkpoint is not None:
        state_dict, ckpt_categories = _load_checkpoint(checkpoint)
        if categories is None and ckpt_categories is not None:
            categories = ckpt_categories
        if num_classes is None:
            num_classes = len(categories) if categories is not None else _head_size(state_dict)

    if arch in DEMO_ARCHITECTURES:
        if weights is not None:
            raise ValueError(f"{arch} has no torchvision weights; use checkpoint=")
        if num_classes is None:
            raise ValueError(f"{arch} needs categories=, num_classes= or a checkpoint")
        model = DEMO_ARCHITECTURES[arch](num_classes)
        geometry = display_geometry(arch, None, display)
        preprocess = _geometry_preprocess(geometry, _demo_preprocess)
        input_size = DEMO_INPUT_SIZE
        target_layer = DEMO_TARGET_LAYER
        meta_categories = None
    else:
        import torchvision

        wobj = _tv_weights(arch, weights)
        meta_categories = list(wobj.meta.get("categories") or []) or None
        kwargs = {}
        if weights is not None:
            n_meta = len(meta_categories) if meta_categories else None
            if num_classes is not None and num_classes != n_meta:
                raise ValueError(f"weights {weights} have {n_meta} classes, not {num_classes}")
            try:
                model = torchvision.models.get_model(arch, weights=wobj)
            except Exception as e:
                raise ValueError(
                    f"cannot get weights {wobj} for {arch} (offline? use checkpoint=): {str(e).splitlines()[0]}"
                ) from None
        else:
            if num_classes is not None:
                kwargs["num_classes"] = num_classes
            model = torchvision.models.get_model(arch, weights=None, **kwargs)
        geometry = display_geometry(arch, weights, display)
        preprocess = _geometry_preprocess(geometry, _tv_normalize(wobj.transforms()))
        input_size = geometry.crop
        target_layer = family_target_layer(model)
        if target_layer is None:  # pragma: no cover - every torchvision classifier we know has a rule
            from .layers import detect_by_tracing

            target_layer = detect_by_tracing(model.eval(), torch.zeros(1, 3, *input_size))

    if state_dict is not None:
        check_fit(model, state_dict, arch, categories_given)
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as e:
            first = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            raise ValueError(f"checkpoint does not fit {arch}: {' '.join(first[:3])[:400]}") from None
        sha = file_sha256(checkpoint)
        source = "checkpoint"
    else:
        sha = state_dict_sha256(model.state_dict())
        source = weights if weights is not None else "random"

    n_out = _head_size(model.state_dict())
    if categories is None:
        if meta_categories is not None and n_out == len(meta_categories):
            categories = meta_categories
        else:
            categories = placeholder_categories(n_out)
    elif n_out is not None and n_out != len(categories):
        raise ValueError(f"{len(categories)} categories for a model with {n_out} outputs")

    model.eval().to(device)
    return ModelBundle(
        module=model,
        arch=arch,
        target_layer=target_layer,
        categories=categories,
        preprocess=preprocess,
        weights_sha256=sha,
        input_size=input_size,
        display=_geometry_display(geometry),
        weights=source,
        geometry=geometry,
    )
