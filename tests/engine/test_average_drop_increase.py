"""Average Drop and Increase in Confidence (Quantus has neither): against a hand computation."""

import numpy as np
import pytest
import torch
from torch import nn

from explain_engine.metrics import average_drop_increase, confidence_change


class SumModel(nn.Module):
    """Logits (sum of the left half, sum of the right half) of a one-channel image."""

    def forward(self, x):
        w = x.shape[-1] // 2
        return torch.stack([x[..., :w].sum((1, 2, 3)), x[..., w:].sum((1, 2, 3))], 1)


def test_masking_by_the_map_gives_the_hand_computed_drop_and_increase():
    x = torch.ones(1, 1, 2, 2)
    left = np.array([[1.0, 0.0], [1.0, 0.0]])  # keeps the left half, zeroes the right half
    out = confidence_change(SumModel(), x, 0, left, score="logit")
    assert out["score"] == pytest.approx(2.0) and out["masked_score"] == pytest.approx(2.0)
    assert out["drop"] == 0.0 and out["increase"] is False
    out = confidence_change(SumModel(), x, 0, left, score="softmax")
    # Softmax of (2, 2) is 0.5; of (2, 0) is e^2 / (e^2 + 1): the confidence rises.
    assert out["masked_score"] == pytest.approx(np.exp(2) / (np.exp(2) + 1))
    assert out["increase"] is True and out["drop"] == 0.0
    right = 1 - left
    out = confidence_change(SumModel(), x, 0, right, score="softmax")
    want = 1 / (1 + np.exp(2))
    assert out["drop"] == pytest.approx((0.5 - want) / 0.5)
    both = average_drop_increase([confidence_change(SumModel(), x, 0, m) for m in (left, right)])
    assert both["average_drop"] == pytest.approx(100 * (0.5 - want) / 0.5 / 2)
    assert both["increase_in_confidence"] == pytest.approx(50.0)


def test_a_map_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        confidence_change(SumModel(), torch.ones(1, 1, 2, 2), 0, np.ones((3, 3)))
