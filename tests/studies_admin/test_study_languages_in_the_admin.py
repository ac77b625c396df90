"""The study form sets the languages offered, the default and the per-language texts; unknown
languages or fields are form errors that change nothing."""

import json

import pytest
from django.forms.models import model_to_dict

from studies.i18n import consent_fingerprint
from studies.models import Study

pytestmark = pytest.mark.django_db


def post(client, study, **changes):
    data = {k: v for k, v in model_to_dict(study).items() if v is not None and k not in ("id", "translations")}
    data.update(methods=study.methods, **changes)
    return client.post(f"/admin/studies/study/{study.pk}/change/", data)


def test_the_form_saves_the_languages_and_the_translations(researcher_client, trust_study):
    page = researcher_client.get(f"/admin/studies/study/{trust_study.pk}/change/").content.decode()
    assert 'name="languages"' in page and 'name="default_language"' in page and 'name="translations"' in page
    texts = {"ko": {"consent_text": "동의서", "class_names": {"cat": "고양이"}}}
    response = post(
        researcher_client, trust_study, languages=["en", "ko"], default_language="en", translations=json.dumps(texts)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    study = Study.objects.get(pk=trust_study.pk)
    # The translated consent is marked with the text it translates (a live change then shows the new text).
    marked = {"ko": {**texts["ko"], "consent_of": consent_fingerprint(study.consent_text)}}
    assert (study.languages, study.default_language, study.translations) == (["en", "ko"], "en", marked)


def test_a_form_left_without_languages_keeps_english(researcher_client, trust_study):
    response = post(researcher_client, trust_study, languages=[], default_language="")
    assert response.status_code == 302
    study = Study.objects.get(pk=trust_study.pk)
    assert (study.languages, study.default_language) == (["en"], "en")


@pytest.mark.parametrize(
    "changes, error",
    [
        ({"languages": ["en", "xx"]}, "Select a valid choice"),
        ({"languages": ["en"], "default_language": "ko"}, "The default language must be one of the languages offered"),
        ({"languages": ["en", "ko"], "translations": '{"fr": {"consent_text": "x"}}'}, "Unknown language"),
        ({"languages": ["en", "ko"], "translations": '{"ko": {"title": "x"}}'}, "unknown field"),
        ({"languages": ["en"], "translations": '{"ko": {"consent_text": "x"}}'}, "is not one of the languages offered"),
        ({"languages": ["en", "ko"], "translations": '{"ko": {"class_names": ["cat"]}}'}, "class_names is an object"),
        ({"languages": ["en", "ko"], "translations": "{not json"}, "Enter a valid JSON"),
    ],
)
def test_unknown_languages_and_fields_are_form_errors(researcher_client, trust_study, changes, error):
    response = post(researcher_client, trust_study, **changes)
    assert response.status_code == 200 and error in response.content.decode()
    study = Study.objects.get(pk=trust_study.pk)
    assert (study.languages, study.translations) == (["en"], {})
