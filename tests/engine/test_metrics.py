"""Metrics on cases whose answer is known by construction."""

import math

import numpy as np
import pytest
import torch

from explain_engine import metrics


def peak_map(h=40, w=50, at=(10, 20)):
    m = np.zeros((h, w))
    m[at] = 1.0
    return m


def test_pointing_game_boxes_masks_and_tolerance():
    m = peak_map()  # max at row 10, column 20
    box = (30, 5, 40, 15)  # x from 30: 10 px to the right of the peak
    assert metrics.pointing_game(m, box)  # default tolerance 15
    assert not metrics.pointing_game(m, box, tolerance=5)
    assert metrics.pointing_game(m, [(0, 0, 1, 1), (15, 5, 25, 15)], tolerance=0)  # inside the 2nd box
    diag = (23, 13, 30, 20)  # dx = 3, dy = 3 -> distance sqrt(18)
    assert metrics.pointing_game(m, diag, tolerance=4.25) and not metrics.pointing_game(m, diag, tolerance=4.2)
    mask = np.zeros((40, 50), bool)
    mask[5:15, 30:40] = True
    assert metrics.pointing_game(m, mask) and not metrics.pointing_game(m, mask, tolerance=9.9)
    assert not metrics.pointing_game(np.zeros((40, 50)), box)  # a constant map is a miss


def test_localization_box_largest_region_and_iou():
    m = np.full((20, 30), 0.1)  # below 15% of the max everywhere
    m[2:5, 5:9] = 1.0  # 12 pixels, the peak
    m[10:16, 20:25] = 0.2  # 30 pixels, above 0.15 -> the largest region
    m[0, 29] = 0.9  # an isolated pixel
    assert metrics.localization_box(m) == (20, 10, 25, 16)
    assert metrics.localization_box(m, threshold=0.5) == (5, 2, 9, 5)
    assert metrics.localization_box(np.zeros((4, 4))) is None
    assert metrics.box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert metrics.box_iou((0, 0, 2, 2), (2, 2, 3, 3)) == 0.0
    assert metrics.localization_iou(m, [(20, 10, 25, 16), (0, 0, 1, 1)]) == 1.0
    assert metrics.localization_iou(m, (20, 10, 25, 13)) == pytest.approx(0.5)


class Linear(torch.nn.Module):
    """logit 0 = sum of channel-0 pixels weighted by W; logit 1 = 0."""

    def __init__(self, weight):
        super().__init__()
        self.register_buffer("w", torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, x):
        s = (x[:, 0] * self.w).sum((1, 2))
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_occlusion_map_and_rank_correlation():
    w = np.zeros((8, 8))
    w[5, 5] = 1.0
    model = Linear(w)
    occ = metrics.occlusion_map(model, torch.ones(3, 8, 8), 0, patch=4, stride=4)
    want = np.zeros((8, 8))
    want[4:, 4:] = 1.0
    np.testing.assert_allclose(occ, want)
    # overlapping patches: pixel (r, c) is covered by patches starting at 0, 2, 4 on each axis;
    # mean drop = fraction of its covering patches that contain (5, 5)
    occ = metrics.occlusion_map(model, torch.ones(3, 8, 8), 0, patch=4, stride=2)
    cover = {0: [0], 1: [0], 2: [0, 2], 3: [0, 2], 4: [2, 4], 5: [2, 4], 6: [4], 7: [4]}
    for r in range(8):
        for c in range(8):
            hits = [(a, b) for a in cover[r] for b in cover[c] if a <= 5 < a + 4 and b <= 5 < b + 4]
            assert occ[r, c] == pytest.approx(len(hits) / (len(cover[r]) * len(cover[c])))
    assert metrics.rank_correlation(occ, occ**3 + 1) == pytest.approx(1.0)
    assert metrics.occlusion_faithfulness(-occ, occ) == pytest.approx(-1.0)
    assert math.isnan(metrics.rank_correlation(np.ones((2, 2)), occ[:2, :2]))


def test_deletion_and_insertion_auc():
    w = np.zeros((4, 4))
    w[0, :] = 0.25  # the score is the mean of the top row: 1 for an image of ones
    model = Linear(w)
    x = torch.ones(3, 4, 4)
    good = np.zeros((4, 4))
    good[0, :] = 1.0  # the top row first
    good[1:] = np.arange(12).reshape(3, 4) / 100.0
    bad = -good
    # 16 pixels, 4 at a time -> 5 points. Deleting the top row first: [1, 0, 0, 0, 0]
    np.testing.assert_allclose(metrics.deletion_curve(model, x, 0, good, step=4, score="logit"), [1, 0, 0, 0, 0])
    assert metrics.deletion_auc(model, x, 0, good, step=4, score="logit") == pytest.approx(0.5 / 4)
    assert metrics.deletion_auc(model, x, 0, bad, step=4, score="logit") == pytest.approx(3.5 / 4)
    # insertion onto a black substrate: [0, 1, 1, 1, 1]
    assert metrics.insertion_auc(
        model, x, 0, good, step=4, substrate=torch.zeros(3, 4, 4), score="logit"
    ) == pytest.approx(3.5 / 4)
    # one pixel at a time (the last row-major pixel of the top row deleted 4th): [1, .75, .5, .25, 0, 0, ...]
    curve = metrics.deletion_curve(model, x, 0, good, step=1, score="logit")
    assert len(curve) == 17 and curve[:5].tolist() == [1, 0.75, 0.5, 0.25, 0]
    assert metrics.auc([0, 1]) == 0.5 and metrics.auc([1, 1, 1]) == 1.0
    # softmax scores: logit 1 is 0, so the probability is sigmoid(logit 0)
    p = metrics.deletion_curve(model, x, 0, good, step=4)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-np.array([1.0, 0, 0, 0, 0]))), rtol=1e-6)
