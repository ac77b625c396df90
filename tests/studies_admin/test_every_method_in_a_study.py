"""A study can compare any engine method, the random control included; each stimulus records
the parameters its method ran with."""

import pytest

from studies.models import Stimulus
from studies.stimuli import configuration

from .test_admin_access import generate_inline


@pytest.mark.django_db(transaction=True)
def test_a_study_generates_the_new_methods_and_records_their_parameters(cd_study):
    cd_study.methods = ["random", "smoothgrad", "eigencam"]
    cd_study.save()
    assert configuration.study_config_errors(cd_study) == []
    job = generate_inline(cd_study)
    job.refresh_from_db()
    assert job.status == "done" and job.failed == 0
    stimuli = Stimulus.objects.filter(method__in=cd_study.methods)
    assert set(stimuli.values_list("method", flat=True)) == set(cd_study.methods)
    for s in stimuli:
        params = s.provenance["method_params"]
        if s.method == "smoothgrad":
            assert params == {"samples": 50, "noise_level": 0.15, "seed": 0, "batch_size": 32}
        elif s.method == "random":
            assert params == {"seed": 0}
        else:
            assert params == {}


def test_every_engine_method_is_a_study_choice():
    from explain_engine import METHODS
    from studies.admin import _method_choices
    from studies.stimuli.textual import METHOD as TEXTUAL

    # Every engine method, in the engine's order, plus the sentence of a textual explanation.
    assert [name for name, _ in _method_choices()] == [*METHODS, TEXTUAL]
    assert {"random", "scorecam", "integrated_gradients", "hirescam", "fullgrad"} <= set(METHODS)
