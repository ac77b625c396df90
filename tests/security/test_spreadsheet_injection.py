"""Export cells that a spreadsheet would run as a formula are defused, also in disguise."""

import pytest

from studies.results import export


@pytest.mark.parametrize(
    "text",
    [
        '\uff1dHYPERLINK("http://x")',  # fullwidth equals sign
        "\u200b=1+2",  # zero-width space, then =
        "\u2060\ufeff@SUM(A1)",
        ";=1+2",
        "|calc",
        "\uff0bSUM(A1)",  # fullwidth plus
    ],
)
def test_disguised_formula_cells_get_a_leading_apostrophe(text):
    assert export.neutralize(text) == "'" + text


@pytest.mark.parametrize("text", ["cat", "a=b", "x|y", "\u200bcat", "\uff41bc"])
def test_ordinary_text_passes_unchanged(text):
    assert export.neutralize(text) == text
