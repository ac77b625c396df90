"""The participant catalogues: every string marked in the code is translated in every language, none
is fuzzy, and the committed .mo files are what the .po files compile to."""

import ast
import gettext
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from studies.management.commands.update_catalogues import IGNORE

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
SOURCES = ("studies", "templates")  # where makemessages finds the marked strings (IGNORE leaves out the rest)


def entries(po: Path) -> list[dict]:
    """A .po file's entries: msgid, msgid_plural, msgstr forms, flags (enough of the format for a check)."""
    found, entry, key = [], None, None
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry:
                found.append(entry)
            entry = None
            continue
        entry = entry or {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith(("msgid ", "msgid_plural ", "msgstr")):
            head, _, literal = line.partition(" ")
            key = head
            value = ast.literal_eval(literal)
            if head.startswith("msgstr"):
                entry["msgstr"][head] = value
            else:
                entry[head] = value
        else:  # a continuation line
            value = ast.literal_eval(line)
            if key.startswith("msgstr"):
                entry["msgstr"][key] += value
            else:
                entry[key] += value
    return found


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    """The msgids makemessages finds in the site's code now (into a scratch catalogue)."""
    scratch = tmp_path_factory.mktemp("makemessages")
    for name in SOURCES:
        shutil.copytree(ROOT / name, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
    (scratch / "locale").mkdir()
    cwd = Path.cwd()
    try:
        os.chdir(scratch)  # makemessages reads the current folder
        with override_settings(LOCALE_PATHS=[scratch / "locale"]):
            call_command("makemessages", locale=["xx"], ignore_patterns=IGNORE, verbosity=0)
    finally:
        os.chdir(cwd)
    found = entries(scratch / "locale" / "xx" / "LC_MESSAGES" / "django.po")
    return {e["msgid"] for e in found if e["msgid"]}


def test_the_code_marks_the_participant_pages_strings(marked):
    assert "I agree to take part" in marked
    assert "Which model do you find more reliable?" in marked  # a kind's question (gettext_noop)
    assert len(marked) > 150


@pytest.mark.parametrize("language", list(settings.PARTICIPANT_LANGUAGES))
def test_every_marked_string_is_translated_and_none_is_fuzzy(marked, language):
    found = entries(LOCALE / language / "LC_MESSAGES" / "django.po")
    header, catalogue = found[0], found[1:]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert f"Language: {language}\n" in header["msgstr"]["msgstr"]
    by_id = {e["msgid"]: e for e in catalogue}
    assert marked - set(by_id) == set(), f"not in {language}'s catalogue: run manage.py update_catalogues"
    untranslated = [msgid for msgid, e in by_id.items() if not all(e["msgstr"].values())]
    fuzzy = [msgid for msgid, e in by_id.items() if "fuzzy" in e["flags"]]
    assert (untranslated, fuzzy) == ([], [])
    if language != "en":  # translated, not copied
        copied = [m for m, e in by_id.items() if e["msgstr"].get("msgstr") == m and len(m) > 12]
        assert copied == []


@pytest.mark.parametrize("language", list(settings.PARTICIPANT_LANGUAGES))
def test_the_committed_mo_files_are_the_compiled_catalogues(tmp_path, language):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(po)], check=True)
    with compiled.open("rb") as fresh, (po.with_suffix(".mo")).open("rb") as committed:
        fresh_catalogue = gettext.GNUTranslations(fresh)._catalog
        committed_catalogue = gettext.GNUTranslations(committed)._catalog
    keys = fresh_catalogue.keys() | committed_catalogue.keys()
    stale = {k for k in keys if fresh_catalogue.get(k) != committed_catalogue.get(k)}
    assert stale == set(), f"{language}: run manage.py update_catalogues (compiles the .mo files)"
