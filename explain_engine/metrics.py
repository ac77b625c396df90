"""Evaluation metrics for saliency maps (pure functions over arrays).

Conventions: maps are 2-D arrays (H, W); boxes are ``(x0, y0, x1, y1)`` in pixel
indices with x1, y1 exclusive (a box covering only pixel (row 2, col 3) is
(3, 2, 4, 3)); the model-based functions take a callable returning logits
(N, C) and an input tensor (3, H, W) or (1, 3, H, W).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, stats

# ------------------------------------------------------------ pointing game


def _box_distance(x: int, y: int, box) -> float:
    x0, y0, x1, y1 = box
    dx = max(x0 - x, 0, x - (x1 - 1))
    dy = max(y0 - y, 0, y - (y1 - 1))
    return math.hypot(dx, dy)


def pointing_game(saliency, ground_truth, tolerance: float = 15.0) -> bool:
    """Hit when the map's maximum lies within ``tolerance`` pixels of the ground truth.

    ``ground_truth``: a boolean mask (H, W) or boxes (M, 4) / (4,). The maximum is
    the first maximal pixel in row-major order; a constant map is a miss.
    """
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError("saliency must be (H, W)")
    if not np.isfinite(s).all() or s.max() <= s.min():
        return False
    y, x = np.unravel_index(int(np.argmax(s)), s.shape)
    gt = np.asarray(ground_truth)
    if gt.dtype == bool:
        mask = gt.astype(bool)
        if not mask.any():
            return False
        if mask[y, x]:
            return True
        dist = ndimage.distance_transform_edt(~mask)
        return bool(dist[y, x] <= tolerance)
    boxes = gt.reshape(-1, 4)
    return any(_box_distance(x, y, b) <= tolerance for b in boxes)


# ------------------------------------------------------------ localization


def localization_box(saliency, threshold: float = 0.15):
    """Box (x0, y0, x1, y1) around the largest 8-connected region of pixels whose
    value is at or above ``threshold`` x the map's maximum; None for a map with no
    positive value. Ties between regions go to the first in row-major order."""
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError("saliency must be (H, W)")
    peak = s.max()
    if not np.isfinite(peak) or peak <= 0:
        return None
    mask = s >= threshold * peak
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
    sizes = np.bincount(labels.ravel())[1:]
    best = int(np.argmax(sizes)) + 1
    ys, xs = ndimage.find_objects(labels)[best - 1]
    return (xs.start, ys.start, xs.stop, ys.stop)


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (exclusive ends)."""
    if a is None or b is None:
        return 0.0
    ax0, ay0, ax1, ay1 = map(float, a)
    bx0, by0, bx1, by1 = map(float, b)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def localization_iou(saliency, gt_boxes, threshold: float = 0.15) -> float:
    """IoU of the localization box with the best-matching ground-truth box."""
    box = localization_box(saliency, threshold)
    gts = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    return max((box_iou(box, g) for g in gts), default=0.0)


# ------------------------------------------------------------ model-based


def _as_batch(x):
    import torch

    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError("x must be (3, H, W) or (1, 3, H, W)")
    return x


def _scores(model, batch, target: int, score: str):
    import torch

    with torch.no_grad():
        logits = model(batch).float()
    if score == "logit":
        out = logits[:, target]
    elif score == "softmax":
        out = logits.softmax(1)[:, target]
    elif score == "sigmoid":
        out = logits[:, target].sigmoid()
    else:
        raise ValueError("score must be 'logit', 'softmax' or 'sigmoid'")
    return out.cpu().numpy().astype(np.float64)


def _run_in_eval(model, fn):
    import torch

    if not isinstance(model, torch.nn.Module):
        return fn()
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        return fn()
    finally:
        for m, mode in modes:
            m.training = mode


def occlusion_map(
    model,
    x,
    target: int,
    patch: int = 16,
    stride: int = 8,
    baseline: float = 0.0,
    score: str = "logit",
    batch_size: int = 64,
) -> np.ndarray:
    """Drop in the target's score when a ``patch`` x ``patch`` square (stepped by
    ``stride``, the last row/column of patches flush with the border) is set to
    ``baseline``; each pixel gets the mean drop of the patches covering it."""
    import torch

    x = _as_batch(x)
    _, c, h, w = x.shape
    device = (
        next(iter(model.parameters())).device
        if isinstance(model, torch.nn.Module) and any(True for _ in model.parameters())
        else x.device
    )
    x = x.to(device)

    def starts(n):
        if patch >= n:
            return [0]
        s = list(range(0, n - patch + 1, stride))
        if s[-1] != n - patch:
            s.append(n - patch)
        return s

    positions = [(i, j) for i in starts(h) for j in starts(w)]

    def run():
        base = _scores(model, x, target, score)[0]
        drops = []
        for b in range(0, len(positions), batch_size):
            chunk = positions[b : b + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for n, (i, j) in enumerate(chunk):
                batch[n, :, i : i + patch, j : j + patch] = baseline
            drops.extend(base - _scores(model, batch, target, score))
        return drops

    drops = _run_in_eval(model, run)
    total = np.zeros((h, w))
    count = np.zeros((h, w))
    for (i, j), d in zip(positions, drops):
        total[i : i + patch, j : j + patch] += d
        count[i : i + patch, j : j + patch] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


OCCLUSION_BASELINES = ("mean", "blur")


def region_scores(
    model,
    x,
    target: int,
    regions,
    baseline: str = "mean",
    blur_sigma: float = 4.0,
    score: str = "softmax",
) -> tuple[float, list[float]]:
    """The target's score on the image and with each region occluded, one region at a time.

    ``regions`` are boxes (x0, y0, x1, y1) in input pixels, x1/y1 exclusive. ``baseline`` "mean"
    fills a region with the image's mean colour (per channel, so no colour is introduced), "blur"
    with the image blurred by a Gaussian of ``blur_sigma`` pixels (the shapes go, the colours stay).
    Returns (score of the intact image, [score with region k occluded])."""
    if baseline not in OCCLUSION_BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(OCCLUSION_BASELINES)}")
    x = _as_batch(x)
    _, _, h, w = x.shape
    filler = _blur(x, blur_sigma) if baseline == "blur" else x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    batch = x.repeat(len(regions) + 1, 1, 1, 1)
    for n, (x0, y0, x1, y1) in enumerate(regions, start=1):
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"region {(x0, y0, x1, y1)} lies outside the {w}x{h} input")
        batch[n, :, y0:y1, x0:x1] = filler[0, :, y0:y1, x0:x1]
    values = _run_in_eval(model, lambda: _scores(model, batch, target, score))
    return float(values[0]), [float(v) for v in values[1:]]


def map_mass(raw) -> np.ndarray:
    """A map's non-negative mass (H, W): gradient maps (3, H, W) by their absolute value summed
    over channels, class maps clipped at zero (what a reader sees as highlighted)."""
    m = np.asarray(raw, dtype=np.float64)
    if m.ndim == 3:
        m = np.abs(m).sum(axis=0)
    return np.clip(m, 0, None)


def rank_correlation(a, b) -> float:
    """Spearman rank correlation of two maps of the same shape (nan if one is constant)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError("maps must have the same shape")
    if a.min() == a.max() or b.min() == b.max():
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def occlusion_faithfulness(saliency, occlusion) -> float:
    """The paper's faithfulness: Spearman correlation of a map with the occlusion map."""
    return rank_correlation(saliency, occlusion)


def auc(curve) -> float:
    """Area under a curve sampled at equal steps over [0, 1] (trapezoid rule)."""
    c = np.asarray(curve, dtype=np.float64)
    if c.size < 2:
        raise ValueError("a curve needs at least two points")
    return float((c.sum() - c[0] / 2 - c[-1] / 2) / (c.size - 1))


def _order(saliency, shape):
    s = np.asarray(saliency, dtype=np.float64)
    if s.shape != shape:
        raise ValueError(f"saliency shape {s.shape} differs from the image's {shape}")
    return np.argsort(-s.ravel(), kind="stable")  # most salient first, ties in row-major order


def _blur(x, sigma):
    import torch

    arr = x[0].cpu().numpy()
    out = np.stack([ndimage.gaussian_filter(ch, sigma) for ch in arr])
    return torch.from_numpy(out.astype(np.float32))[None].to(x.device)


def _perturbation_curve(model, start, finish, order, step, target, score, batch_size):
    import torch

    h, w = start.shape[-2:]
    n_pix = h * w
    n_steps = math.ceil(n_pix / step)
    flat_start = start.reshape(1, start.shape[1], -1)
    flat_finish = finish.reshape(1, start.shape[1], -1)
    curve = []
    for b in range(0, n_steps + 1, batch_size):
        ks = list(range(b, min(b + batch_size, n_steps + 1)))
        batch = flat_start.repeat(len(ks), 1, 1)
        for n, k in enumerate(ks):
            idx = torch.as_tensor(order[: min(k * step, n_pix)], device=start.device)
            batch[n][:, idx] = flat_finish[0][:, idx]
        curve.extend(_scores(model, batch.reshape(len(ks), *start.shape[1:]), target, score))
    return np.asarray(curve)


def deletion_curve(
    model,
    x,
    target: int,
    saliency,
    step: int = 224,
    baseline: float = 0.0,
    score: str = "softmax",
    batch_size: int = 32,
) -> np.ndarray:
    """Scores as the most salient pixels are replaced by ``baseline``, ``step`` pixels
    at a time (RISE): ceil(H W / step) + 1 points, from the intact image to none left."""
    import torch

    x = _as_batch(x)
    order = _order(saliency, tuple(x.shape[-2:]))
    finish = torch.full_like(x, float(baseline))
    return _run_in_eval(model, lambda: _perturbation_curve(model, x, finish, order, step, target, score, batch_size))


def insertion_curve(
    model,
    x,
    target: int,
    saliency,
    step: int = 224,
    substrate=None,
    blur_sigma: float = 5.0,
    score: str = "softmax",
    batch_size: int = 32,
) -> np.ndarray:
    """Scores as the most salient pixels are copied from the image onto a
    ``substrate`` (default: the image blurred with a Gaussian of ``blur_sigma``)."""

    x = _as_batch(x)
    order = _order(saliency, tuple(x.shape[-2:]))
    start = _blur(x, blur_sigma) if substrate is None else _as_batch(substrate).to(x.device)
    return _run_in_eval(model, lambda: _perturbation_curve(model, start, x, order, step, target, score, batch_size))


def deletion_auc(model, x, target: int, saliency, **kwargs) -> float:
    """Area under the deletion curve (lower is better)."""
    return auc(deletion_curve(model, x, target, saliency, **kwargs))


def insertion_auc(model, x, target: int, saliency, **kwargs) -> float:
    """Area under the insertion curve (higher is better)."""
    return auc(insertion_curve(model, x, target, saliency, **kwargs))


# ------------------------------------------ sanity checks (Adebayo et al. 2018) and sparseness


def ssim(a, b, data_range: float = 1.0, win_size: int = 7) -> float:
    """Structural similarity (Wang et al. 2004) as scikit-image's ``structural_similarity``
    computes it by default, which Quantus uses: a ``win_size`` uniform window (reflected at the
    edges), K1 = 0.01, K2 = 0.03, the sample covariance, the mean over the interior."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("ssim wants two 2-D maps of the same shape")
    if min(a.shape) < win_size:
        raise ValueError(f"maps must be at least {win_size} pixels on each side")
    mean = lambda t: ndimage.uniform_filter(t, size=win_size)  # noqa: E731
    ua, ub = mean(a), mean(b)
    norm = win_size**2 / (win_size**2 - 1)
    va = norm * (mean(a * a) - ua * ua)
    vb = norm * (mean(b * b) - ub * ub)
    vab = norm * (mean(a * b) - ua * ub)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua * ua + ub * ub + c1) * (va + vb + c2))
    pad = (win_size - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def gini(saliency) -> float:
    """Sparseness (Chalasani et al. 2020) as Quantus' ``Sparseness``: the Gini index of |map| + 1e-7
    over all its values; 0 for a uniform map, (n - 1) / n for a single non-zero value."""
    a = np.sort(np.abs(np.asarray(saliency, dtype=np.float64)).ravel() + 1e-7)
    n = a.size
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * a) / (n * np.sum(a)))


def _sanity_map(m) -> np.ndarray:
    """|map| as (H, W) (a gradient map's channels summed), divided by its maximum (Quantus'
    ``normalise_by_max``), so that SSIM's data range is 1."""
    m = np.abs(np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=np.float64))
    if m.ndim == 3:
        m = m.sum(0)
    top = m.max()
    return m / top if top > 0 else m


def randomization_layers(model) -> list[str]:
    """The layers cascading randomization resets, top (output) first: every module with parameters
    of its own and a ``reset_parameters`` method, in the reverse order of the model's definition."""
    names = [
        n
        for n, m in model.named_modules()
        if n and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))
    ]
    return names[::-1]


def _smoothed(explain, model, x, target, samples: int, noise_level: float, seed: int):
    if samples <= 0:
        return _sanity_map(explain(model, x, target))
    import torch

    g = torch.Generator().manual_seed(seed)
    std = noise_level * float(x.max() - x.min())
    maps = [
        _sanity_map(explain(model, x + torch.randn(x.shape, generator=g).to(x) * std, target)) for _ in range(samples)
    ]
    return np.mean(maps, 0)


def mprt(
    model,
    explain,
    x,
    target: int,
    *,
    seed: int = 0,
    smooth_samples: int = 0,
    noise_level: float = 0.1,
    layers=None,
    record_every: int = 1,
) -> dict:
    """Cascading model-parameter randomization (Adebayo et al. 2018): the layers are re-initialized
    (``reset_parameters`` under ``seed``) one by one from the top down, cumulatively, and after each
    step the map is compared with the original one by Spearman correlation and SSIM of the |maps|.

    ``explain(model, x, target)`` returns the map ((H, W) or (3, H, W)) for a (1, 3, H, W) input.
    ``smooth_samples`` > 0 gives Smooth-MPRT (Hedström et al. 2023): every map is the mean over that
    many noisy copies of x (Gaussian, ``noise_level`` times x's range, seeded). The caller's model is
    not touched (the randomization runs on a copy). ``record_every`` = k compares only after every
    k-th layer and the last (the cascade still resets every layer), to bound the cost on deep
    networks. Returns the layers compared after and one score per such layer;
    Spearman is nan where a map is constant (a Grad-CAM that the ReLU zeroes, for instance)."""
    import copy

    import torch

    work = copy.deepcopy(model).eval()
    order = list(layers) if layers is not None else randomization_layers(work)
    modules = dict(work.named_modules())
    original = _smoothed(explain, work, x, target, smooth_samples, noise_level, seed)
    result = {"layers": [], "spearman": [], "ssim": [], "seed": seed, "smooth_samples": smooth_samples}
    torch.manual_seed(seed)
    state = torch.get_rng_state()
    for n, name in enumerate(order, 1):
        torch.set_rng_state(state)
        with torch.no_grad():
            modules[name].reset_parameters()
        state = torch.get_rng_state()
        if n % max(1, record_every) and n != len(order):
            continue
        result["layers"].append(name)
        now = _smoothed(explain, work, x, target, smooth_samples, noise_level, seed)
        result["spearman"].append(rank_correlation(original, now))
        result["ssim"].append(ssim(original, now))
    return result


def random_logit(model, explain, x, target: int, num_classes: int, seed: int = 0) -> float:
    """The random-logit test (Sixt et al. 2020, Quantus' ``RandomLogit``): SSIM between the |map| for
    the target and the |map| for a class drawn at random (seeded) among the others. A
    class-sensitive method scores low. The class is drawn as Quantus draws it (``randint`` of NumPy's
    legacy generator seeded with ``seed``, among the other classes in order); Quantus compares the
    flattened maps (a 1-D SSIM) with the data range of the pair, this the 2-D maps with range 1."""
    others = [c for c in range(num_classes) if c != target]
    other = others[int(np.random.RandomState(seed).randint(0, num_classes - 1, 1)[0])]
    return ssim(_sanity_map(explain(model, x, target)), _sanity_map(explain(model, x, other)))


# ------------------------------------------ ROAD, confidence, faithfulness correlation, energy

# The weights of noisy linear imputation (Rong et al. 2022): the 4-neighbours count twice the
# diagonal ones.
_NEIGHBOURS = (
    ((1, 1), 1 / 12),
    ((0, 1), 1 / 6),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((0, -1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
)


def noisy_linear_imputation(image, mask, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """ROAD's imputation (Rong et al. 2022): every masked pixel becomes the weighted mean of its
    8 neighbours (4-neighbours weighing 1/6, diagonal ones 1/12, only those inside the image),
    solved jointly as one sparse linear system per channel, plus Gaussian noise of std ``noise``
    (seeded). ``image``: (C, H, W); ``mask``: (H, W), true where a pixel is imputed."""
    from scipy.sparse import coo_matrix, diags
    from scipy.sparse.linalg import spsolve

    img = np.asarray(image, dtype=np.float64)
    c, h, w = img.shape
    masked = np.asarray(mask, dtype=bool).reshape(-1)
    idx = np.flatnonzero(masked)
    out = img.reshape(c, -1).copy()
    if idx.size == 0:
        return out.reshape(c, h, w)
    var = np.full(h * w, -1)
    var[idx] = np.arange(idx.size)
    ys, xs = idx // w, idx % w
    weight_sum = np.zeros(idx.size)
    rhs = np.zeros((idx.size, c))
    rows, cols, vals = [], [], []
    for (dy, dx), weight in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        src = np.flatnonzero(inside)
        nb = ny[inside] * w + nx[inside]
        weight_sum[src] += weight
        unknown = masked[nb]
        rows.append(src[unknown])
        cols.append(var[nb[unknown]])
        vals.append(np.full(int(unknown.sum()), weight))
        rhs[src[~unknown]] -= weight * out[:, nb[~unknown]].T
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(idx.size,) * 2)
    solved = spsolve((a - diags(weight_sum)).tocsc(), rhs).reshape(idx.size, c).T
    out[:, idx] = solved + noise * np.random.default_rng(seed).standard_normal(solved.shape)
    return out.reshape(c, h, w)


ROAD_PERCENTAGES = tuple(range(10, 100, 10))


def road_curve(
    model,
    x,
    target: int,
    saliency,
    *,
    most_relevant_first: bool = True,
    percentages=ROAD_PERCENTAGES,
    noise: float = 0.01,
    seed: int = 0,
    score: str = "softmax",
    batch_size: int = 16,
) -> np.ndarray:
    """ROAD (Rong et al. 2022): the target's score after the ``percentages`` of pixels ranked
    first (most relevant first, MoRF) or last (least relevant first, LeRF) by ``saliency`` are
    replaced by noisy linear imputation, one point per percentage.

    Differences from Quantus' ``ROAD``: Quantus only removes most relevant first and scores whether
    the argmax still equals the label (``score="correct"`` here gives that); it ranks the
    attribution broadcast over the channels of the flattened input, which with a 3-channel image
    and a one-channel map indexes beyond the pixels (it only works for one-channel inputs), where
    this removes whole pixels; its ties fall in argsort's unstable order, here in row-major order;
    its noise comes from NumPy's global generator, here from ``seed`` (a generator per percentage)."""
    import torch

    x = _as_batch(x)
    s = np.asarray(saliency, dtype=np.float64)
    ranked = _order(s, tuple(x.shape[-2:])) if most_relevant_first else _order(-s, tuple(x.shape[-2:]))
    h, w = x.shape[-2:]
    image = x[0].detach().cpu().numpy()
    perturbed = []
    for n, p in enumerate(percentages):
        mask = np.zeros(h * w, dtype=bool)
        mask[ranked[: int(h * w * p / 100)]] = True
        perturbed.append(noisy_linear_imputation(image, mask.reshape(h, w), noise, seed=seed + n))
    batch = torch.from_numpy(np.stack(perturbed).astype(np.float32)).to(x.device)
    kind = "logit" if score == "correct" else score

    def run():
        out = []
        for b in range(0, len(batch), batch_size):
            chunk = batch[b : b + batch_size]
            if score == "correct":
                with torch.no_grad():
                    out.extend((model(chunk).argmax(1) == target).float().cpu().numpy())
            else:
                out.extend(_scores(model, chunk, target, kind))
        return np.asarray(out, dtype=np.float64)

    return _run_in_eval(model, run)


def _unit(saliency) -> np.ndarray:
    s = np.asarray(saliency, dtype=np.float64)
    lo, hi = s.min(), s.max()
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def confidence_change(model, x, target: int, saliency, baseline: float = 0.0, score: str = "softmax") -> dict:
    """One image's share of Average Drop and Increase in Confidence (Chattopadhyay et al. 2018): the
    target's score Y on the image and O on the image masked by the map (min-max scaled to [0, 1],
    blended towards ``baseline`` where the map is low). ``drop`` = max(0, Y - O) / Y and
    ``increase`` = O > Y; Average Drop is 100 x the mean drop over images and Increase in
    Confidence 100 x the share of increases. Quantus has neither."""
    import torch

    x = _as_batch(x)
    if tuple(np.shape(saliency)) != tuple(x.shape[-2:]):
        raise ValueError(f"saliency shape {np.shape(saliency)} differs from the image's {tuple(x.shape[-2:])}")
    m = torch.as_tensor(_unit(saliency), dtype=torch.float32, device=x.device)
    masked = x * m + float(baseline) * (1 - m)
    y, o = _run_in_eval(model, lambda: _scores(model, torch.cat([x, masked]), target, score))
    return {
        "score": float(y),
        "masked_score": float(o),
        "drop": max(0.0, y - o) / y if y > 0 else 0.0,
        "increase": bool(o > y),
    }


def average_drop_increase(changes) -> dict:
    """Average Drop (%) and Increase in Confidence (%) over images' ``confidence_change`` results."""
    changes = list(changes)
    if not changes:
        return {"average_drop": float("nan"), "increase_in_confidence": float("nan")}
    return {
        "average_drop": 100 * float(np.mean([c["drop"] for c in changes])),
        "increase_in_confidence": 100 * float(np.mean([c["increase"] for c in changes])),
    }


def faithfulness_correlation(
    model,
    x,
    target: int,
    saliency,
    *,
    runs: int = 100,
    subset_size: int = 224,
    baseline: float = 0.0,
    seed: int = 0,
    score: str = "softmax",
    batch_size: int = 50,
) -> float:
    """Faithfulness correlation (Bhatt et al. 2020): over ``runs`` random subsets of
    ``subset_size`` pixels (seeded), Pearson's correlation between the sum of the map over the
    subset and the drop in the target's score when the subset is set to ``baseline``.

    Differences from Quantus' ``FaithfulnessCorrelation``: Quantus draws its subsets among the
    input's elements (channel x pixel) with NumPy's global generator and sums the map broadcast
    over channels; this draws whole pixels, each run's subset ``RandomState(seed).choice`` in turn,
    so on a one-channel input with ``np.random.seed(seed)`` set before Quantus runs the two agree."""
    import torch

    x = _as_batch(x)
    s = np.asarray(saliency, dtype=np.float64)
    if s.shape != tuple(x.shape[-2:]):
        raise ValueError(f"saliency shape {s.shape} differs from the image's {tuple(x.shape[-2:])}")
    flat_s = s.ravel()
    rng = np.random.RandomState(seed)
    subsets = [rng.choice(flat_s.size, subset_size, replace=False) for _ in range(runs)]
    c = x.shape[1]

    def run():
        base = _scores(model, x, target, score)[0]
        drops = []
        for b in range(0, runs, batch_size):
            chunk = subsets[b : b + batch_size]
            batch = x.reshape(1, c, -1).repeat(len(chunk), 1, 1)
            for n, idx in enumerate(chunk):
                batch[n][:, torch.as_tensor(idx, device=x.device)] = float(baseline)
            drops.extend(base - _scores(model, batch.reshape(len(chunk), *x.shape[1:]), target, score))
        return np.asarray(drops)

    drops = _run_in_eval(model, run)
    sums = np.asarray([flat_s[idx].sum() for idx in subsets])
    if drops.min() == drops.max() or sums.min() == sums.max():
        return float("nan")
    return float(stats.pearsonr(sums, drops).statistic)


def energy_pointing_game(saliency, ground_truth) -> float:
    """Energy-based pointing game (Wang et al. 2020, Score-CAM): the share of the map's sum that
    lies inside the ground truth (a boolean mask (H, W), or boxes (M, 4) / (4,) whose union is
    taken). Equals Quantus' ``RelevanceMassAccuracy``; like it, negative values are summed as they
    are (give a non-negative map). nan for an empty ground truth or a map summing to 0."""
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError("saliency must be (H, W)")
    gt = np.asarray(ground_truth)
    if gt.dtype == bool:
        mask = gt
    else:
        mask = np.zeros(s.shape, dtype=bool)
        for x0, y0, x1, y1 in gt.reshape(-1, 4).astype(int):
            mask[y0:y1, x0:x1] = True
    if mask.shape != s.shape:
        raise ValueError("the ground-truth mask must have the map's shape")
    total = s.sum()
    if not mask.any() or total == 0:
        return float("nan")
    return float(s[mask].sum() / total)
