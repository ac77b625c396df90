import pytest
from django.urls import reverse

from studies.models import Participant
from tests.support import factories

KIND_STUDIES = {
    "class_discrimination": lambda: factories.make_class_discrimination_study(),
    "trust": lambda: factories.make_trust_study(),
    "hive_distinction": lambda: factories.make_hive_study(
        "hive_distinction", settings={"bonus_per_correct_above_chance": 0.1}
    ),
    "hive_agreement": lambda: factories.make_hive_study(
        "hive_agreement", settings={"bonus_per_correct_above_chance": 0.1}
    ),
    "forward_simulation": lambda: factories.make_forward_simulation_study(),
    "occlusion_2afc": lambda: factories.make_occlusion_study(),
    "bias_detection": lambda: factories.make_bias_study(),
}


def consent(client, study):
    response = client.post(reverse("studies:participant-start", args=[study.slug]), {"action": "accept"})
    assert response.status_code == 302, response.content[:300]
    return Participant.objects.filter(study=study).latest("pk")


def trial_html(client, study) -> str:
    response = client.get(reverse("studies:participant-trial", args=[study.slug]))
    assert response.status_code == 200
    return response.content.decode()


def post_answer(client, study, data):
    return client.post(reverse("studies:participant-answer", args=[study.slug]), data, HTTP_ACCEPT="application/json")


def main_assignment(participant):
    return participant.assignments.filter(is_attention_check=False).order_by("position").first()


def answer_up_to(client, study, participant, assignment):
    """Answer (rightly) every trial before `assignment`."""
    for a in participant.assignments.filter(position__lt=assignment.position).order_by("position"):
        assert post_answer(client, study, factories.good_answer(a)).status_code == 200


def assert_refused_and_nothing_written(client, study, change):
    """A new participant's first main answer, right but for `change`, is a 400 with a message, and no
    response is written."""
    from studies.models import Response

    participant = consent(client, study)
    assignment = main_assignment(participant)
    answer_up_to(client, study, participant, assignment)
    before = Response.objects.count()
    response = post_answer(client, study, {**factories.good_answer(assignment), **change})
    assert response.status_code == 400 and response.json()["ok"] is False and response.json()["error"]
    assert Response.objects.count() == before


@pytest.fixture
def kind_studies(db):
    return KIND_STUDIES
