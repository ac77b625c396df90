"""A kind's setting may be one of named choices (a str setting): its value is checked like a number's
range, and the study form offers it as a choice."""

import pytest

from studies.admin import _setting_field
from studies.kinds import kind_of
from studies.kinds.base import Setting

SCENARIO = Setting("scenario", "Scenario", str, "random", choices=(("random", "Random"), ("bias", "Bias")))


def test_a_choice_setting_keeps_its_choices_and_refuses_the_rest():
    assert SCENARIO.clean("") == "random"
    assert SCENARIO.clean("bias") == "bias"
    with pytest.raises(ValueError, match="not one of random, bias"):
        SCENARIO.clean("failure")


def test_the_study_form_offers_a_choice_setting_as_a_choice():
    field = _setting_field(kind_of("hive_agreement"), SCENARIO)
    assert [value for value, _ in field.choices] == ["", "random", "bias"]
    assert field.initial == "random" and not field.required
