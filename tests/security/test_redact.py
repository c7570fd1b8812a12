from __future__ import annotations

import pytest

from realname.security.redact import contains_pii, redact_pii


@pytest.mark.parametrize(
    "text",
    [
        "customer 13800138000 complained",
        "call +86 138 0013 8000 back",
        "8613800138000",
        "ID 11010519491231002X is not hers",
        "ID 110105-19491231-002x",
    ],
)
def test_numbers_in_free_text_are_found_and_masked(text: str) -> None:
    assert contains_pii(text)
    masked = redact_pii(text)
    assert not contains_pii(masked)
    assert "*" in masked


@pytest.mark.parametrize(
    "text",
    ["fraud complaint", "order 12345", "ICCID 89860012345678901234", "110105194912310021 typo"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert not contains_pii(text)
    assert redact_pii(text) == text
