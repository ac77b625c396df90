"""Presets: the new-study form offers the published protocols; choosing one fills the kind, its settings
and the study fields the paper used, all still editable; an unknown preset is a 400, and a preset that
does not fit its kind is refused when it is registered. The control-arm box is on the form, and a kind
without a control arm refuses it there."""

import re

import pytest
from django.forms.models import model_to_dict

from studies.kinds import presets
from studies.kinds.presets import Preset, register_preset
from studies.models import Study

ADD = "/admin/studies/study/add/"


def checked(html: str, name: str) -> set[str]:
    inputs = re.findall(rf'<input[^>]*name="{name}"[^>]*>', html)
    return {re.search(r'value="([^"]*)"', i).group(1) for i in inputs if "checked" in i}


@pytest.mark.django_db
def test_the_new_study_form_lists_every_published_protocol(researcher_client):
    html = researcher_client.get(ADD).content.decode()
    assert 'data-testid="presets"' in html and "Start from a published protocol" in html
    listed = re.findall(r'data-testid="preset" data-name="([^"]+)"', html)
    assert listed == [p.name for p in presets.presets_in_order()]
    assert {"gradcam-class-discrimination", "gradcam-trust", "hive-distinction", "hive-agreement"} <= set(listed)
    assert 'name="control_arm"' in html


@pytest.mark.django_db
def test_a_preset_fills_the_form_and_says_where_it_comes_from(researcher_client):
    html = researcher_client.get(ADD, {"preset": "hive-distinction"}).content.decode()
    assert 'data-testid="preset-chosen"' in html and "Kim et al., HIVE, ECCV 2022" in html
    assert re.search(r'<option value="hive_distinction" selected>', html)
    assert checked(html, "methods") == {"gradcam"}
    assert re.search(r'name="hive_distinction__incorrect_share" value="0.5"', html)
    html = researcher_client.get(ADD, {"preset": "gradcam-class-discrimination"}).content.decode()
    assert checked(html, "methods") == {"deconvnet", "guided_backprop", "deconv_gradcam", "guided_gradcam"}


@pytest.mark.django_db
def test_an_unknown_preset_is_a_clear_400(researcher_client):
    response = researcher_client.get(ADD, {"preset": "no-such-protocol"})
    assert response.status_code == 400
    assert "no published protocol 'no-such-protocol'" in response.content.decode()


def test_a_preset_that_does_not_fit_its_kind_is_refused_at_registration():
    base = dict(name="x-test", label="X", citation="X", kind="hive_agreement")
    with pytest.raises(ValueError, match="unique name"):
        register_preset(Preset(**{**base, "name": "hive-agreement"}))
    with pytest.raises(ValueError, match="unknown task kind"):
        register_preset(Preset(**{**base, "kind": "no_such_kind"}))
    with pytest.raises(ValueError, match="has no setting 'speed'"):
        register_preset(Preset(**base, kind_settings={"speed": 1}))
    with pytest.raises(ValueError, match="between"):
        register_preset(Preset(**base, kind_settings={"bonus_per_correct_above_chance": -1}))
    with pytest.raises(ValueError, match="may not: slug"):
        register_preset(Preset(**base, study={"slug": "taken"}))
    with pytest.raises(ValueError, match="has no control arm"):
        register_preset(Preset(**base, study={"control_arm": True}))
    assert "x-test" not in presets.PRESETS


@pytest.mark.django_db
def test_the_control_arm_box_is_refused_for_a_kind_without_one(researcher_client, trust_study):
    url = f"/admin/studies/study/{trust_study.pk}/change/"
    data = {k: v for k, v in model_to_dict(trust_study).items() if v is not None}
    data.pop("id", None)
    data.update(methods=trust_study.methods, control_arm="on")
    response = researcher_client.post(url, data)
    assert response.status_code == 200
    assert "has no no-explanation control arm" in response.content.decode()
    assert Study.objects.get(pk=trust_study.pk).control_arm is False
