"""A metric that has no value (a constant map, a saturated score) is stored as null, never as NaN,
which PostgreSQL's JSON refuses."""

import json

import numpy as np
import torch

from explain_engine.demo_nets import shapes_weak
from studies.results.faithfulness import METRICS, evaluate_maps, metric_parameters


def test_a_blank_map_gives_nulls_that_json_and_postgres_accept():
    torch.manual_seed(0)
    net = shapes_weak(6).eval()
    x = torch.randn(1, 3, 32, 32)
    params = metric_parameters(patch=8, stride=4, step=16, score="sigmoid", subset_size=16, seed=0)
    out = evaluate_maps(net, x, 2, {"gradcam": np.zeros((32, 32))}, [(4, 4, 12, 12)], params=params)
    values = out["gradcam"]
    assert set(values) == set(METRICS)
    assert values["occlusion_rho"] is None and values["energy_pointing_game"] is None
    json.dumps(out, allow_nan=False)
