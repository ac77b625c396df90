"""Participants' languages: which one a page speaks, the study's texts in it, and their validation.

A study offers some of settings.PARTICIPANT_LANGUAGES (Study.languages) and starts in its
default_language; `?lang=xx` picks another that it offers (kept in a cookie per study), anything else
is ignored. The interface strings come from the catalogues under locale/; the study's own texts
(consent, instructions, debrief, class names) from Study.translations {lang: {field: text}}, the
fields themselves being the default language's. Nothing here queries the database.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from urllib.parse import urlencode

from django.conf import settings
from django.utils import translation

# The study texts that may be given per language; class_names maps a class name to its translation,
# screeners a screener's name to {"question": ..., "options": {option: translation}}.
TRANSLATABLE_TEXTS = ("consent_text", "instructions_text", "debrief_text")
CLASS_NAMES = "class_names"
SCREENERS = "screeners"
TRANSLATABLE_FIELDS = (*TRANSLATABLE_TEXTS, CLASS_NAMES, SCREENERS)
# Which consent text (of the default language) a translated consent renders, set by the study form: a
# live study's consent may change (a new version) while its translations stay frozen, and then the
# participant reads the current text itself rather than the translation of an older one.
CONSENT_OF = "consent_of"
LANG_PARAM = "lang"
COOKIE_MAX_AGE = 90 * 24 * 3600

_texts: contextvars.ContextVar[dict | None] = contextvars.ContextVar("study_texts", default=None)


def language_names() -> dict[str, str]:
    return dict(settings.PARTICIPANT_LANGUAGES)


def offered_languages(study) -> list[str]:
    """The study's languages that the site has, the default first; English when none is left."""
    known = language_names()
    offered = [code for code in (study.languages or []) if code in known]
    default = study.default_language if study.default_language in offered else (offered or ["en"])[0]
    return [default, *[code for code in offered if code != default]]


def cookie_name(study) -> str:
    return f"visexp_lang{study.pk}"


def chosen_language(request, study) -> tuple[str, bool]:
    """The page's language and whether it was picked just now (the query parameter): then it is kept."""
    offered = offered_languages(study)
    asked = request.GET.get(LANG_PARAM, "")
    if asked in offered:
        return asked, True
    kept = request.COOKIES.get(cookie_name(study), "")
    return (kept if kept in offered else offered[0]), False


def keep_language(response, study, language: str) -> None:
    response.set_cookie(
        cookie_name(study),
        language,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="None" if study.mturk_environment and settings.SESSION_COOKIE_SECURE else "Lax",
        secure=settings.SESSION_COOKIE_SECURE,
        path=f"/s/{study.slug}/",
    )


@contextlib.contextmanager
def speaking(study, language: str):
    """Within: the catalogues of `language`, and the study's texts in it (on this in-memory instance
    only; participant pages never save a study)."""
    texts = (study.translations or {}).get(language, {}) if language != study.default_language else {}
    stale = texts.get(CONSENT_OF) not in (None, consent_fingerprint(study.consent_text))
    for name in TRANSLATABLE_TEXTS:
        if texts.get(name) and not (name == "consent_text" and stale):
            setattr(study, name, texts[name])
    token = _texts.set(texts)
    try:
        with translation.override(language):
            yield
    finally:
        _texts.reset(token)


def consent_fingerprint(text: str) -> str:
    return hashlib.sha256((text or "").encode()).hexdigest()[:16]


def with_consent_fingerprints(translations: dict, consent_text: str) -> dict:
    """The translations, each translated consent marked with the consent text it translates."""
    marked = {}
    for language, texts in translations.items():
        texts = {k: v for k, v in texts.items() if k != CONSENT_OF}
        if texts.get("consent_text"):
            texts[CONSENT_OF] = consent_fingerprint(consent_text)
        marked[language] = texts
    return marked


def class_name(name) -> str:
    """A class name as the participant's language gives it (the study's class_names), else as is."""
    return ((_texts.get() or {}).get(CLASS_NAMES) or {}).get(str(name), name)


def shown_screeners(screeners) -> list[dict]:
    """The study's screeners as the participant reads them: name, question, and (value, label) choices;
    the values stay the study's own, so that eligibility is decided on them."""
    texts = (_texts.get() or {}).get(SCREENERS) or {}
    shown = []
    for item in screeners or []:
        own = texts.get(item["name"]) or {}
        labels = own.get("options") or {}
        question = own.get("question") or item["question"]
        choices = [(option, labels.get(option) or option) for option in item["options"]]
        shown.append({"name": item["name"], "question": question, "choices": choices})
    return shown


def language_choice(request) -> dict:
    """Template context: the picker's links (the page's own query, with lang= set) where a study offers
    several languages."""
    study = getattr(request, "participant_study", None)
    if study is None:
        return {}
    offered = offered_languages(study)
    if len(offered) < 2:
        return {}
    names = language_names()
    current = translation.get_language()
    links = []
    for code in offered:
        query = {k: v for k, v in request.GET.items() if k != LANG_PARAM}
        query[LANG_PARAM] = code
        links.append({"code": code, "name": names[code], "url": f"?{urlencode(query)}", "current": code == current})
    return {"language_links": links}


def translation_errors(languages, default_language: str, translations, screeners=()) -> dict[str, list[str]]:
    """What is wrong with a study's language settings, by form field."""
    known = language_names()
    errors: dict[str, list[str]] = {}
    unknown = [code for code in languages if code not in known]
    if unknown:
        errors.setdefault("languages", []).append(f"Unknown language: {', '.join(map(str, unknown))}.")
    if default_language not in (languages or ["en"]):
        errors.setdefault("default_language", []).append("The default language must be one of the languages offered.")
    if not isinstance(translations, dict):
        errors.setdefault("translations", []).append('Give the translations as {"ko": {"consent_text": "..."}}.')
        return errors
    for language, texts in translations.items():
        if language not in known:
            errors.setdefault("translations", []).append(f"Unknown language {language!r}.")
            continue
        if language not in languages:
            errors.setdefault("translations", []).append(f"{language!r} is not one of the languages offered.")
        if not isinstance(texts, dict):
            errors.setdefault("translations", []).append(f"{language}: give an object of texts by field.")
            continue
        for name, text in texts.items():
            if name == CONSENT_OF:
                continue  # set by the form itself
            if name not in TRANSLATABLE_FIELDS:
                allowed = ", ".join(TRANSLATABLE_FIELDS)
                errors.setdefault("translations", []).append(f"{language}: unknown field {name!r} (one of {allowed}).")
            elif name == CLASS_NAMES:
                if not isinstance(text, dict) or not all(isinstance(v, str) for v in text.values()):
                    errors.setdefault("translations", []).append(
                        f'{language}: class_names is an object {{"class": "translation"}}.'
                    )
            elif name == SCREENERS:
                errors.setdefault("translations", []).extend(_screener_errors(language, text, screeners))
            elif not isinstance(text, str):
                errors.setdefault("translations", []).append(f"{language}: {name} must be text.")
    return errors


def _screener_errors(language: str, texts, screeners) -> list[str]:
    own = {item.get("name"): item for item in screeners or [] if isinstance(item, dict)}
    shape = f'{language}: screeners is an object {{"<name>": {{"question": "...", "options": {{"<option>": "..."}}}}}}.'
    if not isinstance(texts, dict):
        return [shape]
    errors = []
    for name, text in texts.items():
        if name not in own:
            errors.append(f"{language}: no screener named {name!r}.")
        elif not isinstance(text, dict) or set(text) - {"question", "options"}:
            errors.append(shape)
        elif not isinstance(text.get("question", ""), str) or not isinstance(text.get("options", {}), dict):
            errors.append(shape)
        else:
            unknown = [o for o in text.get("options", {}) if o not in own[name].get("options", [])]
            if unknown:
                errors.append(f"{language}: screener {name!r} has no option {', '.join(map(repr, unknown))}.")
            if not all(isinstance(v, str) for v in text.get("options", {}).values()):
                errors.append(shape)
    return errors
