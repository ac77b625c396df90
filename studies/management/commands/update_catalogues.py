"""Update the participant catalogues (locale/<lang>/LC_MESSAGES/django.po) and compile them.

Extracts every marked string (makemessages, GNU gettext's xgettext), keeps the translations made,
fills English's msgstr with its msgid, and compiles the .mo files Django reads. Then translate what
is new in each language's .po (no entry may stay empty or fuzzy: tests/participant/
test_the_catalogues_are_complete.py) and run this again to compile.
"""

import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

# Where makemessages does not look: not the site's code (the admin speaks English only).
IGNORE = [".venv", "var", "staticfiles", "tests", "bench", "docs", "deploy", "scripts", "explain_engine", "media"]


class Command(BaseCommand):
    help = "Extract the participant pages' strings into locale/*/LC_MESSAGES/django.po and compile them."

    def handle(self, *args, **options):
        languages = list(settings.PARTICIPANT_LANGUAGES)
        # English is its own translation, made afresh each time (no stale or fuzzy entry survives).
        english = Path(settings.LOCALE_PATHS[0]) / "en" / "LC_MESSAGES" / "django.po"
        english.unlink(missing_ok=True)
        call_command("makemessages", locale=languages, ignore_patterns=IGNORE, no_obsolete=True, verbosity=0)
        subprocess.run(["msgen", "-o", str(english), str(english)], check=True)
        text = english.read_text(encoding="utf-8").replace('#, fuzzy\nmsgid ""', 'msgid ""', 1)
        english.write_text(text.replace('"Language: \\n"', '"Language: en\\n"', 1), encoding="utf-8")
        call_command("compilemessages", locale=languages, ignore_patterns=IGNORE, verbosity=0)
        self.stdout.write(f"Updated and compiled: {', '.join(languages)}")
