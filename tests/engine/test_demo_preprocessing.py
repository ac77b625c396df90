"""A demo network is explained on exactly the inputs it was trained on."""

import numpy as np
import torch
from PIL import Image

from explain_engine import load_model
from explain_engine.demo_nets import shapes_strong
from explain_engine.demo_train import preprocess as training_preprocess
from explain_engine.synthetic import CLASSES, make_scene


def test_load_model_preprocesses_demo_images_as_training_did(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    torch.save(shapes_strong(len(CLASSES)).state_dict(), path)
    bundle = load_model("shapes_strong", checkpoint=str(path), categories=list(CLASSES))
    image = make_scene(3, 7).image
    explained = bundle.preprocess(Image.fromarray(image))
    trained = training_preprocess(torch.from_numpy(np.ascontiguousarray(image))[None])[0]
    assert torch.allclose(explained, trained, atol=1e-6)
