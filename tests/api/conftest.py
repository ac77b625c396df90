import pytest

from studies import api_tokens
from tests.results import factories as F


@pytest.fixture
def built(db):
    return F.class_discrimination_between()


@pytest.fixture
def token_key(researcher):
    """Rosa's key, reading every study."""
    return api_tokens.do_issue_token(researcher, "notebook")[1]


def bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}
