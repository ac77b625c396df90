"""Model registration: a checkpoint loads once through explain_engine; a pickle payload is refused and never runs."""

import io
import pickle

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile

from explain_engine.synthetic import CLASSES
from studies.models import ClassifierModel
from studies.stimuli.registry import RegistrationRefused, register_model

from .conftest import save_random_net


class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.django_db
def test_the_researcher_registers_a_checkpoint_in_the_admin_and_sees_layer_sha_and_categories(
    researcher_client, tmp_path, media_root
):
    ckpt = save_random_net(tmp_path / "net.pt", "shapes_strong", seed=3)
    response = researcher_client.post(
        "/admin/studies/classifiermodel/add/",
        {
            "name": "shapes",
            "arch": "shapes_strong",
            "weights_name": "",
            "target_layer": "",
            "notes": "",
            "checkpoint_file": SimpleUploadedFile("net.pt", ckpt.read_bytes()),
            "categories_text": "\n".join(CLASSES),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = ClassifierModel.objects.get(name="shapes")
    assert model.target_layer == "features.13"
    import hashlib

    assert model.weights_sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert model.categories == list(CLASSES)
    assert model.checkpoint.read() == ckpt.read_bytes()
    page = researcher_client.get(f"/admin/studies/classifiermodel/{model.pk}/change/").content.decode()
    assert "features.13" in page and "triangle" in page


@pytest.mark.django_db
def test_it_refuses_a_checkpoint_carrying_a_pickle_payload_and_the_payload_never_runs(
    researcher_client, tmp_path, media_root
):
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"features.0.weight": _Payload(str(marker))}, evil)
    # The file really carries the payload: plain pickle would run it (checked on a copy of the stream only).
    assert b"open" in evil.read_bytes() or b"builtins" in evil.read_bytes()

    response = researcher_client.post(
        "/admin/studies/classifiermodel/add/",
        {
            "name": "evil",
            "arch": "shapes_strong",
            "checkpoint_file": SimpleUploadedFile("evil.pt", evil.read_bytes()),
            "categories_text": "\n".join(CLASSES),
        },
    )
    assert response.status_code == 200
    assert "contains pickled Python objects" in response.content.decode()
    assert not marker.exists()
    assert ClassifierModel.objects.count() == 0
    with pytest.raises(RegistrationRefused):
        register_model("evil", "shapes_strong", checkpoint=str(evil), categories=list(CLASSES))
    assert not marker.exists()


@pytest.mark.django_db
def test_it_refuses_a_checkpoint_that_does_not_fit_the_architecture(tmp_path, media_root):
    ckpt = save_random_net(tmp_path / "weak.pt", "shapes_weak", seed=3)
    with pytest.raises(RegistrationRefused, match="does not match shapes_strong"):
        register_model("mismatch", "shapes_strong", checkpoint=str(ckpt), categories=list(CLASSES))
    assert ClassifierModel.objects.count() == 0


@pytest.mark.django_db
def test_the_register_model_command_registers_a_checkpoint(tmp_path, media_root):
    from django.core.management import call_command

    ckpt = save_random_net(tmp_path / "net.pt", "shapes_weak", seed=4)
    cats = tmp_path / "classes.txt"
    cats.write_text("\n".join(CLASSES))
    out = io.StringIO()
    call_command(
        "register_model",
        "weak-cmd",
        "--arch",
        "shapes_weak",
        "--checkpoint",
        str(ckpt),
        "--categories",
        str(cats),
        stdout=out,
    )
    assert "target layer features.13" in out.getvalue()
    assert ClassifierModel.objects.get(name="weak-cmd").categories == list(CLASSES)


def test_the_payload_would_create_the_file_if_unpickled(tmp_path):
    """Guard for the refusal test: the payload is real."""
    marker = tmp_path / "really.txt"
    pickle.loads(pickle.dumps(_Payload(str(marker)))).close()
    assert marker.exists()
