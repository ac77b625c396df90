"""A kind that leaves out part of its protocol (its bank, questions, answer schema...) cannot be
registered: the registry refuses it at import, not a participant's page at run time."""

import pytest

from studies.kinds import KINDS, TaskKind, register


def test_a_kind_without_its_answer_schema_cannot_be_registered():
    class Unfinished(TaskKind):
        name = "unfinished_kind"

        def eligibility(self, study):
            return None

        def build_bank(self, study, context):
            return []

        def questions(self, assignment, panels):
            return []

        def oracle_answer(self, oracle, stimuli, questions, instruction):
            return None

    with pytest.raises(TypeError, match="parse_answer"):
        register(Unfinished)
    assert "unfinished_kind" not in KINDS
