"""A study's colormap reaches its stimuli: the pixels, the provenance, the recipe version and the content key."""

import pytest

from explain_engine.render import RECIPE_VERSION
from studies.models import Stimulus
from studies.stimuli import configuration

from .test_admin_access import generate_inline


@pytest.fixture
def overlay_trust(trust_study):
    return trust_study  # trust studies draw Grad-CAM as an overlay on the photograph


@pytest.mark.django_db(transaction=True)
def test_a_cividis_study_records_its_colormap_and_gets_new_stimuli_beside_the_jet_ones(overlay_trust):
    study = overlay_trust
    generate_inline(study)
    jet = set(Stimulus.objects.filter(method="gradcam").values_list("content_key", flat=True))
    assert jet and all(
        s.recipe_version == RECIPE_VERSION and s.provenance["colormap"] == "jet"
        for s in Stimulus.objects.filter(method="gradcam")
    )

    study.colormap = "cividis"
    study.status = "draft"
    study.save()
    generate_inline(study)
    cividis = Stimulus.objects.filter(method="gradcam", recipe_version=f"{RECIPE_VERSION}+cividis")
    assert cividis.count() == len(jet)
    assert not set(cividis.values_list("content_key", flat=True)) & jet
    assert {s.provenance["colormap"] for s in cividis} == {"cividis"}
    # Guided Grad-CAM is drawn without a colormap: the colormap leaves its stimuli as they were.
    guided = Stimulus.objects.filter(method="guided_gradcam")
    assert {s.recipe_version for s in guided} == {RECIPE_VERSION}
    assert {s.provenance["colormap"] for s in guided} == {None}

    before = Stimulus.objects.count()
    generate_inline(study)
    assert Stimulus.objects.count() == before  # idempotent with the new colormap too
    linked = Stimulus.objects.filter(panels__trial__in=study.trials.filter(method="gradcam"))
    assert {s.recipe_version for s in linked} == {f"{RECIPE_VERSION}+cividis"}


@pytest.mark.django_db
def test_an_unknown_colormap_is_a_configuration_error(cd_study):
    cd_study.colormap = "rainbow"
    assert "colormap must be one of jet, cividis, viridis" in configuration.study_config_errors(cd_study)


@pytest.mark.django_db
def test_changing_the_colormap_of_a_ready_study_sends_it_back_to_draft(cd_study):
    cd_study.status = "ready"
    assert configuration.mark_stale_if_changed(cd_study, ["colormap"])


@pytest.mark.django_db
def test_the_study_form_sets_the_colormap_and_keeps_it_when_not_posted(researcher_client, trust_study):
    from django.forms.models import model_to_dict

    from studies.models import Study

    url = f"/admin/studies/study/{trust_study.pk}/change/"
    assert 'name="colormap"' in researcher_client.get(url).content.decode()
    data = {k: v for k, v in model_to_dict(trust_study).items() if v is not None}
    data.update(colormap="viridis", methods=trust_study.methods)
    data.pop("id", None)
    response = researcher_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Study.objects.get(pk=trust_study.pk).colormap == "viridis"
    data.pop("colormap")
    assert researcher_client.post(url, data).status_code == 302
    assert Study.objects.get(pk=trust_study.pk).colormap == "viridis"
