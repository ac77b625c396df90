"""The gradient baselines equal captum's on torchvision CNNs with seeded random weights
(to 1e-4 of the map's maximum).

captum's guided methods miss DenseNet's functional ReLU, but these baselines use the ordinary
gradient, so captum is a correct reference on DenseNet too. SmoothGrad draws its noise from a
generator seeded by the image (so a map does not depend on its batch); captum draws from the global
generator, which the test seeds with the same value, so both see the same noisy images.
"""

import warnings

import pytest
import torch
import torchvision
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency

from explain_engine import Explainer
from explain_engine.methods import image_seed

SIZE = 64


def close(ours, ref, what):
    scale = ref.abs().max().item()
    assert scale > 0, f"{what}: degenerate reference map"
    err = (ours - ref).abs().max().item()
    assert err <= 1e-4 * scale, f"{what}: max error {err} vs scale {scale}"


@pytest.mark.parametrize("arch", ["vgg16", "resnet50", "densenet121"])
def test_gradient_baselines_match_captum(arch):
    torch.manual_seed(0)
    model = torchvision.models.get_model(arch, weights=None).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        top = model(x).topk(2, 1).indices[0].tolist()
    steps, baseline, samples, level, seed = 8, 0.1, 4, 0.2, 3
    out = Explainer(model).explain(
        x,
        [top],
        methods=("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad"),
        params={
            "integrated_gradients": {"steps": steps, "baseline": baseline},
            "smoothgrad": {"samples": samples, "noise_level": level, "seed": seed},
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, t in enumerate(top):
            close(out["saliency"][:, k], Saliency(model).attribute(x, target=t), f"saliency {t}")
            close(out["input_x_gradient"][:, k], InputXGradient(model).attribute(x, target=t), f"input x gradient {t}")
            ig = IntegratedGradients(model).attribute(x, baselines=baseline, target=t, n_steps=steps)
            close(out["integrated_gradients"][:, k], ig, f"integrated gradients {t}")
            torch.manual_seed(image_seed(x[0], seed))
            sg = NoiseTunnel(Saliency(model)).attribute(
                x, nt_type="smoothgrad", nt_samples=samples, stdevs=level * float(x.max() - x.min()), target=t
            )
            close(out["smoothgrad"][:, k], sg, f"smoothgrad {t}")
