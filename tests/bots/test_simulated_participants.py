"""Bots play studies through the real HTTP pages, and their participants are flagged as simulated."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from studies.kinds.trust import oracle_rating
from studies.models import Participant, ParticipantStatus, Response, TrialKind
from studies.participants.bots import PageParser
from tests.support import factories

pytestmark = pytest.mark.django_db(transaction=True)


def run_bots(study, n, policy, concurrency=3, seed=0):
    call_command(
        "simulate_participants",
        study.slug,
        "--n",
        str(n),
        "--policy",
        policy,
        "--concurrency",
        str(concurrency),
        "--seed",
        str(seed),
    )


def test_oracle_bots_finish_a_class_discrimination_study_with_the_completion_code(capsys):
    study = factories.make_class_discrimination_study(trials_per_participant=4, attention_checks=1)
    run_bots(study, 6, "oracle")
    out = capsys.readouterr().out
    assert "Completed: 6/6" in out
    assert "Completion codes seen: C0MPL3TE" in out
    for page in ("start", "consent", "trial", "answer", "questionnaire", "stimulus"):
        assert page in out  # the latency table has a row per page type
    participants = Participant.objects.filter(study=study)
    assert participants.count() == 6
    assert all(p.is_simulated and p.status == ParticipantStatus.COMPLETED for p in participants)
    # exactly one response per assigned trial
    for p in participants:
        assert Response.objects.filter(assignment__participant=p).count() == p.assignments.count() == 5
    # the oracle reads the maps: it gets (nearly) every main trial right, and every attention check
    main = Response.objects.filter(assignment__participant__study=study, assignment__trial__kind=TrialKind.MAIN)
    assert main.filter(correct=True).count() / main.count() >= 0.9
    checks = Response.objects.filter(assignment__participant__study=study, assignment__is_attention_check=True)
    assert checks.count() == 6 and all(r.correct for r in checks)


def test_oracle_bots_rate_the_stronger_networks_focused_maps_as_more_reliable(capsys):
    study = factories.make_trust_study(trials_per_participant=4, attention_checks=1)
    run_bots(study, 4, "oracle")
    assert "Completed: 4/4" in capsys.readouterr().out
    main = Response.objects.filter(assignment__participant__study=study, assignment__is_attention_check=False)
    assert main.count() == 16
    assert all(r.score > 0 for r in main)  # the weaker maps are spread outside the box
    checks = Response.objects.filter(assignment__participant__study=study, assignment__is_attention_check=True)
    assert all(r.correct for r in checks)  # instructed-response items followed


def test_random_bots_give_a_chance_baseline(capsys):
    study = factories.make_class_discrimination_study(trials_per_participant=6, attention_checks=0, n_images=12)
    run_bots(study, 8, "random", seed=3)
    assert "Completed: 8/8" in capsys.readouterr().out
    main = Response.objects.filter(assignment__participant__study=study)
    share = main.filter(correct=True).count() / main.count()
    assert 0.2 < share < 0.8


def test_a_forged_simulation_marker_does_not_flag_a_participant(client):
    study = factories.make_class_discrimination_study()
    client.post(f"/s/{study.slug}/", {"action": "accept", "PROLIFIC_PID": "real-person", "SIMULATED": "forged"})
    assert Participant.objects.get(study=study).is_simulated is False


def test_it_refuses_an_unknown_study():
    with pytest.raises(CommandError, match="no study"):
        call_command("simulate_participants", "no-such-study", "--n", "1")


def test_the_page_reader_finds_forms_buttons_and_testids():
    parser = PageParser()
    parser.feed(
        '<form method="post" action="/a/"><input type="hidden" name="k" value="v">'
        '<button name="choice" value="cat" data-testid="choice" data-value="cat"><kbd>1</kbd> cat</button></form>'
        '<p data-testid="completion-code"> XYZ </p>'
    )
    form = parser.forms[0]
    assert (form.action, form.method, form.fields) == ("/a/", "post", {"k": "v"})
    assert parser.testids["choice"][0].attrs["data-value"] == "cat"
    assert parser.testids["completion-code"][0].text.strip() == "XYZ"


@pytest.mark.parametrize(
    ("share1", "share2", "rating"),
    [(0.9, 0.3, 2), (0.5, 0.42, 1), (0.5, 0.49, 0), (0.42, 0.5, -1), (0.1, 0.8, -2)],
)
def test_trust_ratings_follow_the_difference_in_box_share(share1, share2, rating):
    assert oracle_rating(share1, share2) == rating


def test_oracle_bots_play_hive_distinction_from_the_stored_predictions_and_the_labels(capsys):
    study = factories.make_hive_study("hive_distinction", trials_per_participant=4, attention_checks=1)
    run_bots(study, 3, "oracle")
    assert "Completed: 3/3" in capsys.readouterr().out
    main = Response.objects.filter(assignment__participant__study=study, assignment__is_attention_check=False)
    assert main.count() == 12
    assert all(r.correct and r.score == 1.0 and r.confidence == 5 for r in main)  # both questions right
    checks = Response.objects.filter(assignment__participant__study=study, assignment__is_attention_check=True)
    assert checks.count() == 3 and all(r.correct for r in checks)


def test_oracle_bots_tell_right_from_wrong_predictions_in_hive_agreement(capsys):
    study = factories.make_hive_study("hive_agreement", trials_per_participant=4, attention_checks=1)
    run_bots(study, 3, "oracle")
    assert "Completed: 3/3" in capsys.readouterr().out
    responses = Response.objects.filter(assignment__participant__study=study)
    assert responses.count() == 15 and all(r.correct for r in responses)


def test_random_bots_answer_every_question_of_every_kind_within_its_options(capsys):
    for study in (factories.make_hive_study("hive_distinction"), factories.make_hive_study("hive_agreement")):
        run_bots(study, 2, "random")
        assert "Completed: 2/2" in capsys.readouterr().out
        for r in Response.objects.filter(assignment__participant__study=study):
            assert r.answer and all(str(v) for v in r.answer.values())


def test_oracle_bots_follow_the_map_in_occlusion_2afc_and_pass_the_catch_trials(capsys):
    import numpy as np

    from studies.kinds.occlusion_2afc import region_share

    study = factories.make_occlusion_study(trials_per_participant=4, attention_checks=1)
    raw = np.arange(1, 257, dtype=np.float32).reshape(16, 16)  # mass grows to the right and down
    for stimulus in {p.stimulus for t in study.trials.all() for p in t.panels.all()}:
        factories.with_raw_map(stimulus, raw)
    run_bots(study, 3, "oracle")
    assert "Completed: 3/3" in capsys.readouterr().out
    responses = Response.objects.filter(assignment__participant__study=study).select_related("assignment__trial")
    main = [r for r in responses if not r.assignment.is_attention_check]
    assert len(main) == 12
    for r in main:
        regions = r.assignment.trial.payload["regions"]
        shares = {name: region_share(raw, box) for name, box in regions.items()}
        assert r.answer["region"] == max(shares, key=shares.get)  # the region with more map mass
    checks = [r for r in responses if r.assignment.is_attention_check]
    assert len(checks) == 3 and all(r.correct for r in checks)  # the object's box, not the empty corner


def test_control_arm_bots_guess_in_occlusion_2afc(capsys):
    study = factories.make_occlusion_study(
        methods=("gradcam",), control_arm=True, trials_per_participant=4, attention_checks=0
    )
    run_bots(study, 4, "oracle")  # two per arm, between subjects
    assert "Completed: 4/4" in capsys.readouterr().out
    control = Response.objects.filter(
        assignment__participant__study=study, assignment__trial__method="none", assignment__is_attention_check=False
    )
    assert control.count() == 8
    assert all(r.confidence == 1 for r in control)  # a guess, said to be one
    assert {r.answer["region"] for r in control} <= {"A", "B"}


def test_bots_answer_the_screeners_as_eligible_people_and_complete(capsys):
    screeners = [{"name": "vision", "question": "Normal vision?", "options": ["No", "Yes"], "eligible": ["Yes"]}]
    study = factories.make_class_discrimination_study(
        trials_per_participant=2, screeners=screeners, **factories.RECRUITMENT_CODES
    )
    run_bots(study, 2, "oracle")
    out = capsys.readouterr().out
    assert "Completed: 2/2" in out and "screeners" in out
    participants = Participant.objects.filter(study=study)
    assert [p.outcome for p in participants] == ["completed", "completed"]
