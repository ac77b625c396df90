"""Migration 0014 on a database filled before consent versions: each study's current text becomes its
version 1, and the participants who consented record it (those screened out did not consent)."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("studies", "0013_participant_holds_slot")]
AFTER = [("studies", "0014_consent_versions_and_withdrawal")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def leaf():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_each_study_gets_its_text_as_version_1_and_its_participants_record_it():
    try:
        old = migrate(BEFORE)
        Study = old.get_model("studies", "Study")
        Participant = old.get_model("studies", "Participant")
        worded = Study.objects.create(name="a", slug="old-worded", consent_text="The text they read.")
        plain = Study.objects.create(name="b", slug="old-plain")
        consented = Participant.objects.create(study=worded, token=uuid.uuid4().hex, status="completed")
        screened = Participant.objects.create(study=worded, token=uuid.uuid4().hex, status="screened_out")

        new = migrate(AFTER)
        Study = new.get_model("studies", "Study")
        Participant = new.get_model("studies", "Participant")
        ConsentVersion = new.get_model("studies", "ConsentVersion")
        assert Study.objects.get(pk=worded.pk).consent_version == Study.objects.get(pk=plain.pk).consent_version == 1
        versions = dict(ConsentVersion.objects.values_list("study__slug", "text"))
        assert versions == {"old-worded": "The text they read.", "old-plain": ""}
        assert set(ConsentVersion.objects.values_list("number", flat=True)) == {1}
        assert Participant.objects.get(pk=consented.pk).consent_version == 1
        assert Participant.objects.get(pk=screened.pk).consent_version is None
    finally:
        migrate(leaf())
