"""Adding a kind touches studies/kinds/ and a template, nothing else: outside them, no code or
template compares anything with a kind's name (the demo, which builds one study of each, aside)."""

import re
from pathlib import Path

from studies.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"studies/demo.py"}  # builds one study of each kind, by name


def shared_files():
    for path in sorted((ROOT / "studies").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(("studies/kinds/", "studies/migrations/")) and rel not in ALLOWED:
            yield rel, path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "templates").rglob("*.html")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith("templates/participant/kinds/"):
            yield rel, path.read_text(encoding="utf-8")


def test_no_shared_module_or_template_names_a_kind():
    names = "|".join(map(re.escape, KINDS))
    pattern = re.compile(rf"""StudyKind|is_trust|(["'])({names})\1""")
    found = [f"{rel}: {m.group(0)}" for rel, text in shared_files() for m in pattern.finditer(text)]
    assert found == []
