"""A study played in Korean from start to debrief, its first pages in German and English, and a
right-to-left language that mirrors the layout (Chromium via Playwright against live_server)."""

import pytest

from studies.models import Participant, ParticipantStatus
from tests.support import factories
from tests.support.accessibility import assert_accessible
from tests.support.browser import wait_until_answerable

from .test_browser import answer_class_discrimination

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLASS_NAMES = {"ko": {"cat": "고양이", "dog": "개", "car": "자동차", "bird": "새", "boat": "배", "chair": "의자"}}


def three_language_study(**fields):
    return factories.make_class_discrimination_study(
        trials_per_participant=2,
        languages=["en", "ko", "de"],
        translations={"ko": {"consent_text": "이것은 시험용 연구입니다.", **{"class_names": CLASS_NAMES["ko"]}}},
        **fields,
    )


def wait_for_trial(page, progress_text):
    page.get_by_test_id("progress").filter(has_text=progress_text).wait_for()
    wait_until_answerable(page)


def test_a_participant_picks_korean_on_the_consent_page_and_plays_to_the_debrief(page, site):
    study = three_language_study()
    page.goto(f"{site}/s/{study.slug}/?PROLIFIC_PID=kim01&STUDY_ID=s1&SESSION_ID=x1")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_test_id("language").get_by_role("link", name="한국어").click()
    assert page.locator("html").get_attribute("lang") == "ko"
    assert "이것은 시험용 연구입니다." in page.locator(".card .text").inner_text()
    assert_accessible(page, "the consent page in Korean, with the language choice")
    page.get_by_test_id("consent-accept").click()
    page.get_by_role("heading", level=1, name="안내").wait_for()
    page.get_by_test_id("continue").click()
    for number in range(1, 4):  # two trials and an attention check
        wait_for_trial(page, f"시행 {number} / 3")
        assert (
            page.locator("legend.question").first.inner_text() == "이미지에 나타난 것은 두 사물 범주 중 어느 것인가요?"
        )
        labels = page.locator("[data-testid=option] span:not(.alias)").all_inner_texts()
        assert labels and all(label in CLASS_NAMES["ko"].values() for label in labels)
        answer_class_discrimination(page, study, use_keyboard=number == 2)
    page.get_by_role("heading", level=1, name="거의 끝났습니다").wait_for()
    page.get_by_test_id("comment").fill("좋았어요.")
    page.get_by_test_id("submit").click()
    page.get_by_role("heading", level=1, name="감사합니다!").wait_for()
    assert page.get_by_test_id("completion-code").inner_text() == "C0MPL3TE"
    assert page.locator("html").get_attribute("lang") == "ko"
    participant = Participant.objects.get(study=study)
    assert (participant.status, participant.comment) == (ParticipantStatus.COMPLETED, "좋았어요.")
    assert not page.js_errors


@pytest.mark.parametrize(
    "query, lang, agree, instructions, question",
    [
        ("?lang=de", "de", "Ich stimme der Teilnahme zu", "Anleitung", "Welche der beiden Objektkategorien"),
        ("", "en", "I agree to take part", "Instructions", "Which of the two object categories"),
    ],
)
def test_the_first_pages_in_german_and_english(page, site, query, lang, agree, instructions, question):
    study = three_language_study()
    page.goto(f"{site}/s/{study.slug}/{query}")
    assert page.locator("html").get_attribute("lang") == lang
    page.get_by_test_id("consent-accept").filter(has_text=agree).click()
    page.get_by_role("heading", level=1, name=instructions).wait_for()
    page.get_by_test_id("continue").click()
    wait_until_answerable(page)
    assert question in page.locator("legend.question").first.inner_text()
    assert page.locator("html").get_attribute("lang") == lang  # the choice outlives the query parameter
    assert not page.js_errors


def test_a_right_to_left_language_mirrors_the_layout(page, site, settings):
    # A language of Django's LANGUAGES_BIDI with no catalogue yet: its pages fall back to English text
    # but take the right-to-left direction, which is all a catalogue would need.
    settings.PARTICIPANT_LANGUAGES = {**settings.PARTICIPANT_LANGUAGES, "ar": "العربية"}
    study = factories.make_class_discrimination_study(trials_per_participant=2, languages=["en", "ar"])
    page.goto(f"{site}/s/{study.slug}/?lang=ar")
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    choice = page.get_by_test_id("language").get_by_role("link").last.bounding_box()
    card = page.locator(".card").bounding_box()
    assert choice["x"] < card["x"] + card["width"] / 2  # the language choice sits at the end: the left
    accept = page.get_by_test_id("consent-accept").bounding_box()
    decline = page.get_by_test_id("consent-decline").bounding_box()
    assert accept["x"] > decline["x"]  # the first button is the rightmost
    assert_accessible(page, "the consent page right to left")
    page.get_by_test_id("consent-accept").click()
    example = page.locator(".example").first
    assert example.evaluate("e => getComputedStyle(e).borderRightWidth") == "4px"
    assert example.evaluate("e => getComputedStyle(e).borderLeftWidth") == "0px"
    page.get_by_test_id("continue").click()
    wait_until_answerable(page)
    progress_text = page.get_by_test_id("progress").bounding_box()
    progress_bar = page.locator(".progress-row progress").bounding_box()
    assert progress_text["x"] > progress_bar["x"] + progress_bar["width"] - 1  # the text at the right, then the bar
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert not page.js_errors
