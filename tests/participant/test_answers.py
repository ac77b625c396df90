"""Answers: refused when forged or out of range (4xx, nothing written), recorded exactly once otherwise."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studies.models import Response
from studies.participants import flow as participation
from tests.support import factories
from tests.support.races import run_at_once

from .test_server_flow import answer, consent, current


def _json_error(res, status):
    assert res.status_code == status, (res.status_code, res.content[:300])
    body = res.json()
    assert body["ok"] is False and body["error"]
    return body["error"]


@pytest.fixture
def cd(client, db):
    study = factories.make_class_discrimination_study()
    participant = consent(client, study)
    return study, participant


@pytest.mark.django_db
def test_forged_and_out_of_range_answers_are_refused_and_write_nothing(client, cd):
    study, participant = cd
    a = current(participant)
    good = factories.good_answer(a)
    other = factories.make_participant(study)
    other_assignment = other.assignments.first()
    second = participant.assignments.get(position=1)
    cases = [
        ({**good, "choice": "not-an-option"}, 400, "not one of the options"),
        ({**good, "choice": ""}, 400, "not one of the options"),
        ({**good, "assignment": other_assignment.pk}, 404, "not part of your session"),
        ({**good, "assignment": 99999999}, 404, "not part of your session"),
        ({**good, "assignment": "abc"}, 400, "not a whole number"),
        ({**good, "position": 1}, 409, "does not match"),
        ({**good, "assignment": second.pk, "position": 1, "choice": second.option_order[0]}, 409, "in order"),
        ({**good, "idempotency_key": "not-a-uuid"}, 400, "idempotency key"),
        ({k: v for k, v in good.items() if k != "idempotency_key"}, 400, "idempotency key"),
        ({**good, "rt_ms": "soon"}, 400, "response time"),
    ]
    for data, status, message in cases:
        error = _json_error(answer(client, study, data), status)
        assert message in error, (data, error)
    assert Response.objects.count() == 0
    assert answer(client, study, good).status_code == 200
    # Same assignment again with a new key: already answered.
    assert "already been answered" in _json_error(
        answer(client, study, {**good, "idempotency_key": str(uuid.uuid4())}), 409
    )
    # Someone else's key is not a replay.
    factories.answer_all(other, complete=False)
    foreign_key = str(Response.objects.filter(assignment__participant=other).first().idempotency_key)
    nxt = current(participant)
    _json_error(answer(client, study, {**factories.good_answer(nxt), "idempotency_key": foreign_key}), 409)
    assert Response.objects.filter(assignment__participant=participant).count() == 1


@pytest.mark.django_db
def test_trust_ratings_out_of_range_are_refused(client):
    study = factories.make_trust_study()
    participant = consent(client, study)
    good = factories.good_answer(current(participant))
    for rating in ("3", "-3", "1.5", "", "two", "99999999999999999999"):
        _json_error(answer(client, study, {**good, "rating": rating}), 400)
    assert Response.objects.count() == 0


@pytest.mark.django_db
def test_plain_form_errors_are_pages_not_500(client, cd):
    study, participant = cd
    res = answer(client, study, {**factories.good_answer(current(participant)), "choice": "zebra"}, json=False)
    assert res.status_code == 400 and b"not one of the options" in res.content
    assert b'data-testid="continue"' in res.content
    assert client.get(reverse("studies:participant-answer", args=[study.slug])).status_code == 405


@pytest.mark.django_db
def test_odd_content_types_and_huge_bodies_get_4xx(client, cd):
    study, participant = cd
    url = reverse("studies:participant-answer", args=[study.slug])
    assert client.post(url, b"\xff\xfe{not json", content_type="application/json").status_code == 400
    assert client.post(url, "<x/>", content_type="text/xml").status_code == 400
    huge = {
        "choice": "x" * (3 * 1024 * 1024),
        **{k: v for k, v in factories.good_answer(current(participant)).items() if k != "choice"},
    }
    assert 400 <= client.post(url, huge).status_code < 500
    assert Response.objects.count() == 0


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(
        st.sampled_from(["assignment", "position", "idempotency_key", "choice", "rating", "rt_ms", "junk"]),
        st.one_of(st.text(max_size=40), st.integers(-(2**70), 2**70).map(str), st.just("")),
        max_size=7,
    )
)
def test_random_malformed_answers_never_cause_a_500_or_a_write(client, cd, fields):
    study, participant = cd
    res = answer(client, study, fields)
    assert 400 <= res.status_code < 500, (fields, res.status_code, res.content[:300])
    assert Response.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_submissions_record_one_row():
    study = factories.make_class_discrimination_study()
    clients = [Client(), Client()]
    participant = consent(clients[0], study)
    clients[1].cookies = clients[0].cookies
    for round_ in range(3):
        data = factories.good_answer(current(participant))
        results = run_at_once(*[lambda c=c, d=data: answer(c, study, d) for c in clients])
        assert [r.status_code for r in results] == [200, 200], [r.content for r in results]
        assert {r.json()["next"] for r in results} == {results[0].json()["next"]}
        assert Response.objects.filter(assignment__participant=participant).count() == round_ + 1
        assert Response.objects.filter(idempotency_key=data["idempotency_key"]).count() == 1
        participant.refresh_from_db()
        assert participant.answered_count == round_ + 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_different_keys_for_the_same_trial_record_one_row():
    study = factories.make_class_discrimination_study()
    clients = [Client(), Client()]
    participant = consent(clients[0], study)
    clients[1].cookies = clients[0].cookies
    base = factories.good_answer(current(participant))
    statuses = [
        r.status_code
        for r in run_at_once(
            *[lambda c=c: answer(c, study, {**base, "idempotency_key": str(uuid.uuid4())}) for c in clients]
        )
    ]
    assert sorted(statuses) == [200, 409]
    assert Response.objects.filter(assignment__participant=participant).count() == 1
    participant.refresh_from_db()
    assert participant.answered_count == 1  # the progress counter moved once, with the one row


@pytest.mark.django_db
def test_query_counts_per_trial_page_and_per_answer_are_bounded(client, django_assert_max_num_queries):
    study = factories.make_trust_study(trials_per_participant=6)
    participant = consent(client, study)
    trial_url = reverse("studies:participant-trial", args=[study.slug])
    for _ in range(3):
        with django_assert_max_num_queries(5):  # the fifth fetches the trials' panels (any kind, any number)
            assert client.get(trial_url).status_code == 200
        data = factories.good_answer(current(participant))
        with django_assert_max_num_queries(7):  # 5 in production; the test wraps the transaction in a savepoint
            assert answer(client, study, data).status_code == 200
        with django_assert_max_num_queries(4):  # a retry of the same answer
            assert answer(client, study, data).status_code == 200


@pytest.mark.django_db
def test_do_answer_replay_returns_the_same_response(cd):
    _, participant = cd
    data = factories.good_answer(current(participant))
    first = participation.do_answer(participant, data)
    second = participation.do_answer(participant, data)
    assert not first.replay and second.replay and first.response.pk == second.response.pk


@pytest.mark.django_db
def test_an_idempotency_key_reused_for_another_trial_is_a_conflict_naming_it(client, cd):
    study, participant = cd
    first = factories.good_answer(current(participant))
    assert answer(client, study, first).json()["ok"] is True
    second = {**factories.good_answer(current(participant)), "idempotency_key": first["idempotency_key"]}
    error = _json_error(answer(client, study, second), 409)
    assert "already used for trial 1" in error and str(second["assignment"]) in error
    assert Response.objects.filter(assignment__participant=participant).count() == 1
    replay = answer(client, study, first).json()  # the first answer's own retry is still a replay
    assert replay["ok"] is True and replay["replay"] is True
