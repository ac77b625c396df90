"""The participant pages' lookups compile their SQL once per process (studies/prepared_queries.py).
What they return must be what the ORM returns, for every later set of values, and a query whose
parameters cannot be told apart from its values must never be kept."""

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from studies.models import Assignment, ConditionSlot, Participant, Study, Trial
from studies.participants import flow
from studies.prepared_queries import PreparedInsert, PreparedQuery, PreparedQueryError, attach_prefetched
from tests.support import factories

pytestmark = pytest.mark.django_db


def fields_of(obj):
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_rows_come_back_as_the_orm_builds_them_with_json_and_dates_converted():
    study = factories.make_class_discrimination_study()
    participant = factories.make_participant(study)
    by_token = PreparedQuery(lambda study_id, token: Participant.objects.filter(study_id=study_id, token=token))

    (found,) = by_token(study.pk, participant.token)

    assert fields_of(found) == fields_of(Participant.objects.get(pk=participant.pk))
    assert isinstance(found.external_meta, dict) and found.consented_at.tzinfo is not None
    assert found._state.adding is False and found._state.db == "default"


def test_later_calls_reuse_the_sql_with_their_own_values_whatever_order_the_orm_gave_them():
    study = factories.make_class_discrimination_study()
    first, second = factories.make_participant(study), factories.make_participant(study)
    # The ORM sorts keyword filters by name: the SQL's parameters come as (token, study_id).
    lookup = PreparedQuery(lambda study_id, token: Participant.objects.filter(token=token, study_id=study_id))

    assert [p.pk for p in lookup(study.pk, first.token)] == [first.pk]
    assert len(lookup._compiled) == 1
    assert [p.pk for p in lookup(study.pk, second.token)] == [second.pk]
    assert lookup(study.pk + 1000, second.token) == []


def test_a_call_whose_values_are_equal_is_answered_but_never_kept():
    study = factories.make_class_discrimination_study(n_images=6, trials_per_participant=4, attention_checks=0)
    participant = factories.make_participant(study)
    window = PreparedQuery(
        lambda participant_id, start, end: Assignment.objects.filter(
            participant_id=participant_id, position__gte=start, position__lt=end
        ).order_by("position")
    )
    # start == end: which parameter is which cannot be told from these values.
    assert window(participant.pk, 2, 2) == []
    assert window._compiled == {}
    assert [a.position for a in window(participant.pk, 1, 3)] == [1, 2]
    assert [a.position for a in window(participant.pk, 0, 2)] == [0, 1]


def test_select_related_rows_arrive_with_their_related_object():
    study = factories.make_class_discrimination_study()
    participant = factories.make_participant(study)
    with CaptureQueriesContext(connection) as queries:
        upcoming = flow.upcoming_assignments(participant, 2)
        panels = [list(a.trial.panels.all()) for a in upcoming]
        urls = [panel.stimulus.png.url for group in panels for panel in group]
    assert len(queries) == 2
    assert [a.position for a in upcoming] == [0, 1]
    assert all(isinstance(a.trial, Trial) and a.trial.pk == a.trial_id for a in upcoming)
    assert urls and all(urls)


def test_prefetched_rows_stay_the_instances_own_when_chained():
    study = factories.make_class_discrimination_study()
    trials = list(Trial.objects.filter(study=study).order_by("index")[:2])
    attach_prefetched(trials, "panels", [], "trial_id")
    assert list(trials[0].panels.all()) == []
    # Chaining leaves the prefetched rows, as after prefetch_related: it asks the database for
    # this trial's panels only.
    real = Trial.objects.get(pk=trials[0].pk).panels.count()
    assert real and trials[0].panels.filter(slot__gte=0).count() == real


def test_a_constant_that_becomes_a_parameter_is_refused():
    study = factories.make_class_discrimination_study()
    with_constant = PreparedQuery(lambda study_id: Study.objects.filter(pk=study_id, status="live"))
    with pytest.raises(PreparedQueryError):
        with_constant(study.pk)


def test_a_value_that_is_no_parameter_is_refused():
    unused = PreparedQuery(lambda slug, ignored: Study.objects.filter(slug=slug))
    with pytest.raises(PreparedQueryError):
        unused("a-slug", "never used")


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused():
    study = factories.make_class_discrimination_study()
    locking = PreparedQuery(lambda study_id: ConditionSlot.objects.select_for_update().filter(study_id=study_id))
    with pytest.raises(TransactionManagementError):
        locking(study.pk)  # refused by the ORM as it compiles
    with transaction.atomic():
        assert locking(study.pk) == list(ConditionSlot.objects.filter(study_id=study.pk).order_by())
    with pytest.raises(TransactionManagementError):
        locking(study.pk)  # compiled now, refused all the same


def stored(participant):
    return [
        (a.position, a.trial_id, a.option_order, a.presentation, a.is_attention_check, a.shown_at)
        for a in Assignment.objects.filter(participant=participant).order_by("position")
    ]


@pytest.mark.parametrize("n", [1, 2, 13])
def test_prepared_inserts_store_the_rows_bulk_create_stores(n):
    study = factories.make_class_discrimination_study()
    by_orm, prepared = factories.make_participant(study), factories.make_participant(study)
    Assignment.objects.filter(participant__in=[by_orm, prepared]).delete()
    trial_ids = list(Trial.objects.filter(study=study).values_list("id", flat=True))

    def rows(participant):
        return [
            Assignment(
                participant=participant,
                position=k,
                trial_id=trial_ids[k % len(trial_ids)],
                option_order=["cat", f"dog {k}"],
                presentation={"swapped": bool(k % 2), "note": "\u00e9t\u00e9"},
                is_attention_check=k == 1,
            )
            for k in range(n)
        ]

    Assignment.objects.bulk_create(rows(by_orm))
    insert = PreparedInsert(Assignment)
    insert(rows(prepared))
    insert(rows(prepared)[:0])  # nothing to insert: no statement, no error
    assert len(stored(prepared)) == n
    assert stored(prepared) == stored(by_orm)
