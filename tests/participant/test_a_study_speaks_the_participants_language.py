"""A study's languages: ?lang= and the language choice, the study's own texts per language, and
unsupported languages ignored; the trial page and the answer keep their query counts."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from studies import i18n
from studies.kinds.base import shown_instruction
from studies.models import Study
from studies.results.export import participant_rows
from tests.support import factories

from .test_server_flow import answer, consent, current, start_url

pytestmark = pytest.mark.django_db

KOREAN = {
    "consent_text": "한국어 동의서입니다.",
    "instructions_text": "한국어 안내문입니다.",
    "debrief_text": "참여해 주셔서 고맙습니다.",
    "class_names": {"cat": "고양이", "dog": "개", "car": "자동차", "bird": "새", "boat": "배", "chair": "의자"},
}


def bilingual_study(**fields):
    return factories.make_class_discrimination_study(
        languages=["en", "ko"], translations={"ko": KOREAN}, debrief_text="Thank you for taking part.", **fields
    )


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)" dir="(\w+)"', response.content.decode()).groups()


def test_the_lang_parameter_picks_an_offered_language_and_the_choice_is_kept(client):
    study = bilingual_study()
    page = client.get(start_url(study, lang="ko"))
    text = page.content.decode()
    assert html_lang(page) == ("ko", "ltr")
    assert "참여에 동의합니다" in text and KOREAN["consent_text"] in text
    assert study.consent_text not in text  # the default language's text gives way to the translation
    assert client.cookies[i18n.cookie_name(study)].value == "ko"
    participant = consent(client, study)
    instructions = client.get(reverse("studies:participant-instructions", args=[study.slug])).content.decode()
    assert "시행 시작하기" in instructions and KOREAN["instructions_text"] in instructions
    trial = client.get(reverse("studies:participant-trial", args=[study.slug])).content.decode()
    assignment = current(participant)
    assert "이미지에 나타난 것은 두 사물 범주 중 어느 것인가요?" in trial
    for value in assignment.option_order:  # the class names in Korean; the values stay the stored ones
        assert f'data-value="{value}"' in trial and KOREAN["class_names"][value] in trial
    factories.answer_all(participant)
    done = client.get(reverse("studies:participant-done", args=[study.slug])).content.decode()
    assert KOREAN["debrief_text"] in done and "완료 코드:" in done
    study.refresh_from_db()
    assert study.consent_text != KOREAN["consent_text"]  # translations are shown, never saved over the study


def test_the_language_of_the_consent_accepted_is_recorded_and_exported(client):
    study = bilingual_study()
    client.get(start_url(study, lang="ko"))
    korean = consent(client, study)
    client.cookies.clear()
    english = consent(client, study)
    assert (korean.language, english.language) == ("ko", "en")
    rows = {row["participant"]: row for row in participant_rows(study)}
    assert (rows[str(korean.public_id)]["language"], rows[str(english.public_id)]["language"]) == ("ko", "en")


def test_screeners_are_asked_in_the_participants_language_and_decided_on_their_own_options(client):
    from .test_recruitment_outcomes import CODES, SCREENERS

    texts = {"vision": {"question": "시력이 정상이신가요?", "options": {"Yes": "예", "No": "아니요"}}}
    study = factories.make_class_discrimination_study(
        screeners=SCREENERS, languages=["en", "ko"], translations={"ko": {"screeners": texts}}, **CODES
    )
    html = client.get(start_url(study, lang="ko", PROLIFIC_PID="p1", STUDY_ID="s", SESSION_ID="x")).content.decode()
    assert "시력이 정상이신가요?" in html and "Are you 18 or older?" in html  # the untranslated one as written
    assert re.search(r'value="Yes" required data-testid="screener-option" data-value="Yes"> 예</label>', html)
    refused = client.post(start_url(study), {"action": "screen", "screener_vision": "Maybe", "PROLIFIC_PID": "p1"})
    assert (
        refused.status_code == 400
        and "“시력이 정상이신가요?” 질문에 선택지 중 하나로 답해 주세요." in refused.content.decode()
    )
    data = {"action": "screen", "screener_vision": "Yes", "screener_age": "Yes", "PROLIFIC_PID": "p1"}
    assert 'data-testid="consent-accept"' in client.post(start_url(study), data).content.decode()


def test_a_consent_translated_from_an_earlier_text_gives_way_to_the_current_text(client):
    study = bilingual_study()
    current_text = study.consent_text
    study.translations = i18n.with_consent_fingerprints(study.translations, current_text)
    study.save()
    assert KOREAN["consent_text"] in client.get(start_url(study, lang="ko")).content.decode()
    # A live study's consent changed (a new version); its translations stay as they were.
    study.consent_text = "The consent text, version 2."
    study.save()
    page = client.get(start_url(study, lang="ko")).content.decode()
    assert "The consent text, version 2." in page and KOREAN["consent_text"] not in page
    assert "참여에 동의합니다" in page  # the page itself still speaks Korean


def test_unsupported_or_not_offered_languages_are_ignored(client):
    study = bilingual_study()
    for lang in ("xx", "de", "", "ko-KR", "../ko"):
        page = client.get(start_url(study, lang=lang))
        assert page.status_code == 200
        assert html_lang(page) == ("en", "ltr") and "I agree to take part" in page.content.decode()
        assert i18n.cookie_name(study) not in client.cookies


def test_a_study_in_german_by_default_offers_english_through_the_language_choice(client):
    study = factories.make_class_discrimination_study(languages=["en", "de"], default_language="de")
    page = client.get(start_url(study, PROLIFIC_PID="abc123", STUDY_ID="s1", SESSION_ID="x9"))
    text = page.content.decode()
    assert html_lang(page) == ("de", "ltr") and "Ich stimme der Teilnahme zu" in text
    choice = re.search(r'<nav class="languages" data-testid="language".*?</nav>', text, re.S).group(0)
    links = dict(re.findall(r'href="([^"]+)" hreflang="(\w+)"', choice))
    assert sorted(links.values()) == ["de", "en"]
    english = next(url for url, code in links.items() if code == "en").replace("&amp;", "&")
    assert "PROLIFIC_PID=abc123" in english and "SESSION_ID=x9" in english  # the recruitment link survives
    page = client.get(start_url(study) + english)
    assert html_lang(page) == ("en", "ltr") and "I agree to take part" in page.content.decode()


def test_a_study_with_one_language_shows_no_language_choice(client):
    study = factories.make_class_discrimination_study()
    text = client.get(start_url(study, lang="ko")).content.decode()
    assert 'data-testid="language"' not in text and "I agree to take part" in text


def test_errors_speak_the_participants_language(client):
    study = bilingual_study()
    client.get(start_url(study, lang="ko"))
    participant = consent(client, study)
    data = {**factories.good_answer(current(participant)), "idempotency_key": "not-a-key"}
    response = answer(client, study, data)
    assert response.status_code == 400
    assert response.json()["error"] == "답에 유효한 중복 방지 키가 없습니다. 페이지를 새로 고쳐 주세요."


def test_attention_check_instructions_are_shown_in_the_page_language():
    stored = "To show that you are reading carefully, please answer \u201cBoth are equally reliable\u201d."
    with translation.override("de"):
        assert (
            shown_instruction(stored)
            == "Um zu zeigen, dass Sie aufmerksam lesen, antworten Sie bitte „Beide sind gleich verlässlich“."
        )
    panel = "To show that you are reading carefully, please choose panel 3 for both questions."
    with translation.override("ko"):
        assert (
            shown_instruction(panel)
            == "주의 깊게 읽고 있다는 것을 보여 주시려면 두 질문 모두에서 3번 패널을 선택해 주세요."
        )
    assert shown_instruction(stored) == stored
    assert shown_instruction("Something a researcher wrote.") == "Something a researcher wrote."


def test_the_trial_page_and_the_answer_keep_their_query_counts_in_another_language(
    client, django_assert_max_num_queries
):
    study = factories.make_trust_study(trials_per_participant=4, languages=["en", "ko"])
    client.get(start_url(study, lang="ko"))
    participant = consent(client, study)
    trial_url = reverse("studies:participant-trial", args=[study.slug])
    for _ in range(2):
        with django_assert_max_num_queries(5):
            page = client.get(trial_url)
        assert page.status_code == 200 and "어느 모델이 더 믿을 만하다고 생각하시나요?" in page.content.decode()
        data = factories.good_answer(current(participant))
        with django_assert_max_num_queries(7):
            assert answer(client, study, data).status_code == 200


def test_the_language_settings_are_validated():
    assert i18n.translation_errors(["en", "ko"], "ko", {"ko": KOREAN}) == {}
    assert "languages" in i18n.translation_errors(["en", "fr"], "en", {})
    assert "default_language" in i18n.translation_errors(["en"], "ko", {})
    for bad in (
        {"fr": {"consent_text": "x"}},
        {"ko": {"title": "x"}},
        {"ko": {"class_names": ["cat"]}},
        {"ko": "x"},
        [],
    ):
        assert "translations" in i18n.translation_errors(["en", "ko"], "en", bad), bad
    assert Study._meta.get_field("languages").default() == ["en"]
