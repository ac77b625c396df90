"""The engine's methods: each a function of :class:`~explain_engine.methods.Ingredients`,
registered by name (the registry and the ingredients live in ``methods.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .methods import ACTS, BIAS_GRADS, DECONV, GUIDED, LAYER_GRAD, PLAIN, Ingredients, Method, register

# --------------------------------------------------------------------- CAMs


def _gradcam(ing: Ingredients) -> torch.Tensor:
    return ing.per_target_cam(lambda g, A: g.mean((2, 3)))


def _counterfactual(ing: Ingredients) -> torch.Tensor:
    return ing.per_target_cam(lambda g, A: (-g).mean((2, 3)))


GRADCAM_PP_EPS = 1e-7


def _gradcam_pp_weights(g: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    # Chattopadhyay et al. (2018), eq. 19 with the exponential score, as in
    # pytorch-grad-cam: alpha = g^2 / (2 g^2 + sum(A) g^3), weights = sum relu(g) alpha.
    g2 = g * g
    g3 = g2 * g
    sum_a = A.sum((2, 3), keepdim=True)
    aij = g2 / (2 * g2 + sum_a * g3 + GRADCAM_PP_EPS)
    aij = torch.where(g != 0, aij, torch.zeros_like(aij))
    return (torch.relu(g) * aij).sum((2, 3))


def _gradcam_pp(ing: Ingredients) -> torch.Tensor:
    return ing.per_target_cam(_gradcam_pp_weights)


XGRADCAM_EPS = 1e-7


def _hirescam(ing: Ingredients) -> torch.Tensor:
    # Draelos & Carin (2020): the element-wise product of gradients and activations, summed over channels.
    return ing.per_target_elementwise_cam(lambda g, A: g * A)


def _gradcam_elementwise(ing: Ingredients) -> torch.Tensor:
    # pytorch-grad-cam's GradCAMElementWise: HiResCAM with a ReLU on every element before the sum.
    return ing.per_target_elementwise_cam(lambda g, A: torch.relu(g * A))


def _layercam(ing: Ingredients) -> torch.Tensor:
    # Jiang et al. (2021): positive gradients weight every activation.
    return ing.per_target_elementwise_cam(lambda g, A: torch.relu(g) * A)


def _xgradcam(ing: Ingredients) -> torch.Tensor:
    # Fu et al. (2020): weights sum(g * A) / sum(A) per channel.
    return ing.per_target_cam(lambda g, A: (g * A).sum((2, 3)) / (A.sum((2, 3)) + XGRADCAM_EPS))


def _eigencam(ing: Ingredients) -> torch.Tensor:
    """Muhammad & Yeasin (2020): the activations projected on their first principal component.

    The SVD leaves the component's sign arbitrary; it is fixed here so that the projection's
    largest magnitude is positive (the sign correction of Chung & Ying 2025), which makes the map
    independent of the linear-algebra library. pytorch-grad-cam's EigenCAM keeps LAPACK's sign."""
    A = ing.acts.double()
    n, c, h, w = A.shape
    flat = A.reshape(n, c, h * w).transpose(1, 2)  # (N, hw, C)
    flat = flat - flat.mean(1, keepdim=True)
    proj = _first_component_projection(flat)  # (N, hw)
    flip = proj.amin(1).abs() > proj.amax(1).abs()
    proj = torch.where(flip[:, None], -proj, proj)
    cam = ing.upsample(torch.relu(proj).reshape(n, h, w).float())
    return cam[:, None].expand(n, ing.num_targets, *cam.shape[-2:]).contiguous()


def _first_component_projection(flat: torch.Tensor) -> torch.Tensor:
    """The rows of `flat` (N, m, k) projected on their first right singular vector: `u1 * s1`.

    From the eigenvectors of the smaller Gram matrix (m x m or k x k) rather than a full SVD: the
    same vector up to its sign (which the caller fixes), at a fraction of the cost (ResNet-50's
    layer4: 49 x 2048, an SVD took 5 ms, as much as the rest of the CAM family together)."""
    m, k = flat.shape[-2:]
    if m <= k:
        values, vectors = torch.linalg.eigh(flat @ flat.transpose(1, 2))  # ascending
        return vectors[..., -1] * values[..., -1:].clamp_min(0).sqrt()
    _, vectors = torch.linalg.eigh(flat.transpose(1, 2) @ flat)
    return (flat @ vectors[..., -1:])[..., 0]


def _random(ing: Ingredients) -> torch.Tensor:
    """A control condition: uniform noise at the CAM's resolution, upsampled (so it is smooth),
    seeded by the seed, the image and the class."""
    seed = ing.params("random")["seed"]
    n, _, h, w = ing.acts.shape
    maps = torch.empty(n, ing.num_targets, h, w)
    for i in range(n):
        for k in range(ing.num_targets):
            g = torch.Generator().manual_seed(ing.image_seed(seed, i, int(ing.targets[i, k])))
            maps[i, k] = torch.rand(h, w, generator=g)
    maps = maps.to(ing.acts.device)
    return torch.stack([ing.upsample(maps[:, k]) for k in range(ing.num_targets)], 1)


def _chunks(total: int, size: int):
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def _scorecam(ing: Ingredients) -> torch.Tensor:
    """Wang et al. (2020), Algorithm 1: every channel, upsampled and min-max normalized, masks the
    input; the target's logit on each masked input, softmaxed over the channels, weights the channels.

    The masked inputs of all images, channels and target classes go through the network in batches
    of ``batch_size``; one set of forward passes serves every target class. A constant channel masks
    the input to zeros, so all of them share one forward pass of a zero image."""
    p = ing.params("scorecam")
    A, x = ing.acts, ing.x
    n, c = A.shape[:2]
    flat = A.reshape(n, c, -1)
    constant = flat.amax(2) == flat.amin(2)  # (N, C)
    pairs = (~constant).nonzero()  # (P, 2): image, channel
    scores = torch.empty(n, c, ing.num_targets, device=A.device, dtype=ing.scores.dtype)
    if constant.any():
        zero_logits = ing.forward(torch.zeros_like(x[:1]))[0]  # (classes,)
        ci = constant.nonzero()
        scores[ci[:, 0], ci[:, 1]] = zero_logits[ing.targets[ci[:, 0]]]
    for part in _chunks(len(pairs), p["batch_size"]):
        img, ch = pairs[part, 0], pairs[part, 1]
        masks = F.interpolate(
            A[img, ch][:, None], size=ing.input_size, mode="bilinear", align_corners=p["align_corners"]
        )
        lo = masks.amin((2, 3), keepdim=True)
        hi = masks.amax((2, 3), keepdim=True)
        masks = (masks - lo) / (hi - lo + 1e-8)
        logits = ing.forward(x[img] * masks)
        scores[img, ch] = logits.gather(1, ing.targets[img])
    return ing.weighted_cam(torch.softmax(scores.float(), 1))


def _ablationcam(ing: Ingredients) -> torch.Tensor:
    """Desai & Ramaswamy (2020): weights (y - y_k) / y, with y_k the target's logit when channel k of
    the layer is set to ``value`` (0 in the paper). The network runs on the stored activations with
    ``batch_size`` ablated channels per forward pass; every target class reads the same passes."""
    p = ing.params("ablationcam")
    raw = ing.raw_acts
    n, c = ing.acts.shape[:2]
    dim = ing.channel_dim
    ablated = torch.empty(n, c, ing.num_targets, device=raw.device, dtype=ing.scores.dtype)
    for i in range(n):
        for part in _chunks(c, p["batch_size"]):
            channels = torch.arange(part.start, part.stop, device=raw.device)
            batch = raw[i : i + 1].repeat(len(channels), *([1] * (raw.ndim - 1)))
            moved = batch.movedim(dim, 1)  # a view: writes reach ``batch``
            moved[torch.arange(len(channels), device=raw.device), channels] = p["value"]
            logits = ing.forward_with_layer_output(ing.x[i : i + 1].expand(len(channels), *ing.x.shape[1:]), batch)
            ablated[i, part] = logits.gather(1, ing.targets[i : i + 1].expand(len(channels), -1))
    # The unablated score through the same path as the ablated ones, so that the small differences
    # between the model's forward and this path are not divided by a small score.
    original = torch.cat([ing.forward_with_layer_output(ing.x[i : i + 1], raw[i : i + 1]) for i in range(n)])
    original = original.gather(1, ing.targets)[:, None, :]  # (N, 1, K)
    return ing.weighted_cam(((original - ablated) / original).float())


def _normalize01(t: torch.Tensor, dims) -> torch.Tensor:
    # pytorch-grad-cam's scale_cam_image: subtract the minimum, divide by (1e-7 + the new maximum)
    t = t - t.amin(dims, keepdim=True)
    return t / (1e-7 + t.amax(dims, keepdim=True))


def _fullgrad(ing: Ingredients) -> torch.Tensor:
    """Srinivas & Fleuret (2019), as pytorch-grad-cam and the authors' code compute it:
    |input gradient x input| plus, for every biased convolution and batch norm, |bias x gradient at
    its output|, each channel min-max normalized and upsampled, summed over channels and layers."""
    maps = []
    for k in range(ing.num_targets):
        gx, layers = ing.bias_grads(k)
        total = _normalize01((gx * ing.x).abs(), (2, 3)).sum(1)
        for g, bias in layers:
            part = _normalize01((g * bias[None, :, None, None]).abs(), (2, 3))
            n, c, h, w = part.shape
            total = total + ing.upsample(part.reshape(n * c, h, w)).reshape(n, c, *ing.input_size).sum(1)
        maps.append(total)
    return torch.stack(maps, 1)


# ---------------------------------------------------------------- gradients


def _input_grads(rule):
    def compute(ing: Ingredients) -> torch.Tensor:
        return torch.stack([ing.input_grad(rule, k) for k in range(ing.num_targets)], 1)

    return compute


def _saliency(ing: Ingredients) -> torch.Tensor:
    # Simonyan et al. (2014); captum's Saliency (abs=True): the absolute input gradient.
    return _input_grads(PLAIN)(ing).abs()


def _input_x_gradient(ing: Ingredients) -> torch.Tensor:
    # Shrikumar et al. (2016); captum's InputXGradient.
    return _input_grads(PLAIN)(ing) * ing.x[:, None]


def _sampled_gradients(ing: Ingredients, make_inputs, weights, batch_size: int, absolute=False) -> torch.Tensor:
    """sum_s weights[s] * d y_k / d input (its absolute value if ``absolute``) at the inputs
    ``make_inputs(s)`` ((S, N, 3, H, W) slice),
    for every target k, with ``batch_size`` images per forward pass; returns (N, K, 3, H, W).
    One forward pass serves every target class."""
    n = ing.x.shape[0]
    total = torch.zeros(n, ing.num_targets, *ing.x.shape[1:], device=ing.x.device, dtype=ing.x.dtype)
    per = max(1, batch_size // n)
    with torch.enable_grad():
        for part in _chunks(len(weights), per):
            inputs = make_inputs(part)  # (s, N, 3, H, W)
            s = inputs.shape[0]
            flat = inputs.reshape(s * n, *inputs.shape[2:]).detach().requires_grad_(True)
            logits = ing.forward(flat, grad=True)
            t = ing.targets.repeat(s, 1)
            w = weights[part].to(flat.dtype)
            for k in range(ing.num_targets):
                (g,) = torch.autograd.grad(
                    logits.gather(1, t[:, k : k + 1]).sum(), flat, retain_graph=k < ing.num_targets - 1
                )
                if absolute:
                    g = g.abs()
                total[:, k] += (g.reshape(s, n, *g.shape[1:]) * w[:, None, None, None, None]).sum(0)
    return total


def _integrated_gradients(ing: Ingredients) -> torch.Tensor:
    """Sundararajan et al. (2017) with captum's default quadrature (Gauss-Legendre over ``steps``
    points) and a constant ``baseline`` image: (x - baseline) * integral of the gradient."""
    import numpy as np

    p = ing.params("integrated_gradients")
    points, weights = np.polynomial.legendre.leggauss(p["steps"])
    alphas = torch.tensor(0.5 * (1 + points), dtype=ing.x.dtype, device=ing.x.device)
    steps = torch.tensor(0.5 * weights, dtype=ing.x.dtype, device=ing.x.device)
    base = torch.full_like(ing.x, p["baseline"])
    diff = ing.x - base

    def inputs(part):
        return base[None] + alphas[part, None, None, None, None] * diff[None]

    return _sampled_gradients(ing, inputs, steps, p["batch_size"]) * diff[:, None]


def smoothgrad_noise(ing: Ingredients, i: int, samples: int, level: float, seed: int) -> torch.Tensor:
    """The ``samples`` noise images of image ``i``: Gaussian with standard deviation ``level`` times
    the image's value range (Smilkov et al.), drawn from a generator seeded by the seed and the image."""
    x = ing.x[i]
    std = level * float(x.max() - x.min())
    g = torch.Generator().manual_seed(ing.image_seed(seed, i))
    return torch.normal(0.0, std, size=(samples, *x.shape), generator=g).to(device=x.device, dtype=x.dtype)


def _smoothgrad(ing: Ingredients) -> torch.Tensor:
    """Smilkov et al. (2017) of the saliency map, as captum's NoiseTunnel(Saliency) computes it:
    the mean of |gradient| over ``samples`` noisy copies of the image."""
    p = ing.params("smoothgrad")
    n = ing.x.shape[0]
    noise = torch.stack([smoothgrad_noise(ing, i, p["samples"], p["noise_level"], p["seed"]) for i in range(n)], 1)
    weights = torch.full((p["samples"],), 1.0 / p["samples"])

    def inputs(part):
        return ing.x[None] + noise[part]

    return _sampled_gradients(ing, inputs, weights, p["batch_size"], absolute=True)


def _product(gradient_method, cam_method):
    def compute(ing: Ingredients) -> torch.Tensor:
        return ing.method(gradient_method) * ing.method(cam_method)[:, :, None]

    return compute


register(
    Method(
        "gradcam",
        "Grad-CAM: ReLU of the activations weighted by mean gradients (Selvaraju et al.)",
        "cam",
        _gradcam,
        frozenset({LAYER_GRAD}),
    )
)
register(
    Method(
        "gradcam_pp",
        "Grad-CAM++: weights from positive gradients with higher-order terms (Chattopadhyay et al.)",
        "cam",
        _gradcam_pp,
        frozenset({LAYER_GRAD}),
    )
)
register(
    Method(
        "counterfactual_gradcam",
        "Counterfactual Grad-CAM: Grad-CAM with negated gradients (regions against the class)",
        "cam",
        _counterfactual,
        frozenset({LAYER_GRAD}),
    )
)
register(
    Method(
        "guided_backprop",
        "Guided Backpropagation: input gradient, ReLUs pass only positive gradients at positive inputs",
        "gradient",
        _input_grads(GUIDED),
        frozenset({GUIDED}),
    )
)
register(
    Method(
        "deconvnet",
        "Deconvnet: input gradient, ReLUs pass only positive gradients (Zeiler & Fergus)",
        "gradient",
        _input_grads(DECONV),
        frozenset({DECONV}),
    )
)
register(
    Method(
        "guided_gradcam",
        "Guided Grad-CAM: Guided Backprop times upsampled Grad-CAM",
        "gradient",
        _product("guided_backprop", "gradcam"),
        uses=("guided_backprop", "gradcam"),
    )
)
register(
    Method(
        "deconv_gradcam",
        "Deconvnet Grad-CAM: Deconvnet times upsampled Grad-CAM",
        "gradient",
        _product("deconvnet", "gradcam"),
        uses=("deconvnet", "gradcam"),
    )
)

# ------------------------------------------------------- the CAM family (one forward)
for _name, _description, _compute in (
    ("hirescam", "HiResCAM: element-wise gradients x activations, summed over channels (Draelos & Carin)", _hirescam),
    ("xgradcam", "XGrad-CAM: weights sum(gradient x activation) / sum(activation) (Fu et al.)", _xgradcam),
    ("layercam", "LayerCAM: positive gradients weight every activation (Jiang et al.)", _layercam),
    (
        "gradcam_elementwise",
        "Grad-CAM element-wise: ReLU of every gradient x activation before the channel sum (pytorch-grad-cam)",
        _gradcam_elementwise,
    ),
):
    register(Method(_name, _description, "cam", _compute, frozenset({LAYER_GRAD})))
register(
    Method(
        "eigencam",
        "Eigen-CAM: the activations' first principal component, gradient-free (Muhammad & Yeasin)",
        "cam",
        _eigencam,
        frozenset({ACTS}),
        cost="nothing beside the forward (one small SVD per image)",
    )
)
register(
    Method(
        "random",
        "Random: a seeded, smooth random map at the CAM's resolution (a control condition)",
        "cam",
        _random,
        frozenset({ACTS}),
        defaults={"seed": 0},
        cost="nothing beside the forward",
    )
)

# ------------------------------------------------------------ perturbation CAMs
register(
    Method(
        "scorecam",
        "Score-CAM: channels weighted by the softmax of the target's score on the masked input (Wang et al.)",
        "cam",
        _scorecam,
        frozenset({ACTS}),
        defaults={"batch_size": 32, "align_corners": False},
        cost="one forward per channel of the target layer (512 on VGG-16, 2048 on ResNet-50), all targets at once",
        expensive=True,
    )
)
register(
    Method(
        "ablationcam",
        "Ablation-CAM: channels weighted by the relative score drop when each is set to zero (Desai & Ramaswamy)",
        "cam",
        _ablationcam,
        frozenset({ACTS}),
        defaults={"batch_size": 32, "value": 0.0},
        cost="one forward per channel of the target layer, all targets at once",
        expensive=True,
    )
)
register(
    Method(
        "fullgrad",
        "FullGrad: input gradient x input plus the bias-gradients of every layer (Srinivas & Fleuret); ReLU CNNs only",
        "cam",
        _fullgrad,
        frozenset({BIAS_GRADS}),
        cost="one backward to the input and every biased layer per target",
    )
)

# ------------------------------------------------------------ gradient baselines
register(
    Method(
        "saliency",
        "Saliency: the absolute input gradient (Simonyan et al.)",
        "gradient",
        _saliency,
        frozenset({PLAIN}),
        cost="one backward to the input per target",
    )
)
register(
    Method(
        "input_x_gradient",
        "Input x Gradient: the input times its gradient (Shrikumar et al.)",
        "gradient",
        _input_x_gradient,
        frozenset({PLAIN}),
        cost="one backward to the input per target",
    )
)
register(
    Method(
        "integrated_gradients",
        "Integrated Gradients: (x - baseline) times the path integral of the gradient (Sundararajan et al.)",
        "gradient",
        _integrated_gradients,
        defaults={"steps": 50, "baseline": 0.0, "batch_size": 32},
        cost="steps forward and backward passes per image (50 by default)",
        expensive=True,
    )
)
register(
    Method(
        "smoothgrad",
        "SmoothGrad: the mean absolute gradient over noisy copies of the image (Smilkov et al.)",
        "gradient",
        _smoothgrad,
        defaults={"samples": 50, "noise_level": 0.15, "seed": 0, "batch_size": 32},
        cost="samples forward and backward passes per image (50 by default)",
        expensive=True,
    )
)
