"""Registration errors say what is wrong and what to do, for torchvision networks as researchers save them."""

from __future__ import annotations

import pytest
import torch
import torchvision
from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import ClassifierModel
from studies.stimuli.registry import RegistrationRefused, register_model

pytestmark = pytest.mark.django_db

FOUR = ["cat", "dog", "car", "boat"]


@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory):
    """A seeded random resnet18 with 4 outputs, saved as researchers should: its state dict."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=4)
    path = tmp_path_factory.mktemp("ckpt") / "resnet18-4.pt"
    torch.save(net.state_dict(), path)
    return path, net


def refusal(*args, **kwargs) -> str:
    with pytest.raises(RegistrationRefused) as exc:
        register_model(*args, **kwargs)
    assert ClassifierModel.objects.count() == 0
    return str(exc.value)


def test_a_pickled_module_is_refused_with_what_to_save_instead(resnet18_checkpoint, tmp_path, media_root):
    _, net = resnet18_checkpoint
    whole = tmp_path / "whole-module.pt"
    torch.save(net, whole)  # the module itself, pickled: what torch.save(model) writes
    message = refusal("pickled", "resnet18", checkpoint=str(whole), categories=FOUR)
    assert message == (
        "this checkpoint contains pickled Python objects; save a state_dict with torch.save(model.state_dict())"
    )
    assert "\x1b[" not in message and str(tmp_path) not in message


def test_a_checkpoint_of_another_architecture_is_refused_with_key_counts_and_examples(tmp_path, media_root):
    torch.manual_seed(0)
    other = torchvision.models.mobilenet_v3_small(weights=None, num_classes=4)
    path = tmp_path / "mobilenet.pt"
    torch.save(other.state_dict(), path)
    expected = set(torchvision.models.resnet18(weights=None, num_classes=4).state_dict())
    given = set(other.state_dict())
    missing, unexpected = len(expected - given), len(given - expected)
    message = refusal("wrong arch", "resnet18", checkpoint=str(path), categories=FOUR)
    assert message.startswith(
        f"the checkpoint does not match resnet18: {missing} missing and {unexpected} unexpected keys, e.g. missing "
    )
    assert len(message) < 400


def test_a_class_count_mismatch_names_both_counts(resnet18_checkpoint, media_root):
    path, _ = resnet18_checkpoint
    message = refusal("three", "resnet18", checkpoint=str(path), categories=FOUR[:3])
    assert message == "3 categories given, the checkpoint has 4 outputs"


def test_a_checkpoint_without_categories_is_refused_in_the_admin_until_they_are_given(
    researcher_client, resnet18_checkpoint, media_root
):
    path, _ = resnet18_checkpoint
    form = {"name": "resnet", "arch": "resnet18", "weights_name": "", "target_layer": "", "notes": ""}
    response = researcher_client.post(
        "/admin/studies/classifiermodel/add/",
        {**form, "checkpoint_file": SimpleUploadedFile("r.pt", path.read_bytes())},
    )
    assert response.status_code == 200
    assert "give the categories: the checkpoint has 4 outputs" in response.content.decode()
    assert ClassifierModel.objects.count() == 0
    response = researcher_client.post(
        "/admin/studies/classifiermodel/add/",
        {**form, "checkpoint_file": SimpleUploadedFile("r.pt", path.read_bytes()), "categories_text": "\n".join(FOUR)},
    )
    assert response.status_code == 302
    assert ClassifierModel.objects.get(name="resnet").categories == FOUR
