"""What an identifier may look like, and what the caller is told when it does not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masstock.domain.errors import ValidationFailed
from masstock.domain.identifiers import check_identifier

ALLOWED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"


@pytest.mark.parametrize(
    "value",
    ["DEALER001", "356938035643809", "8934071100000000001", "SN:AB-12_x.9", "a" * 64],
)
def test_usual_identifiers_are_accepted(value: str) -> None:
    assert check_identifier("device_id", value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "dealer_id is required"),
        (7, "dealer_id must be a string"),
        (True, "dealer_id must be a string"),
        (["DEALER001"], "dealer_id must be a string"),
        ("", "dealer_id must not be blank"),
        ("   ", "dealer_id must not be blank"),
        ("a" * 65, "dealer_id must be at most 64 characters"),
        (
            "DEALER 001",
            "dealer_id may contain only letters, digits and the characters . _ : -",
        ),
        (
            "DEALER/001",
            "dealer_id may contain only letters, digits and the characters . _ : -",
        ),
        (
            "DEALERÑ01",
            "dealer_id may contain only letters, digits and the characters . _ : -",
        ),
    ],
)
def test_bad_identifiers_are_refused_naming_the_field(
    value: object, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_identifier("dealer_id", value)

    assert caught.value.message == message


@given(st.text(alphabet=ALLOWED, min_size=1, max_size=64))
def test_any_short_string_of_allowed_characters_is_accepted(value: str) -> None:
    assert check_identifier("device_id", value) == value


@given(st.text(min_size=1, max_size=80))
def test_anything_accepted_is_short_and_of_allowed_characters(value: str) -> None:
    try:
        accepted = check_identifier("device_id", value)
    except ValidationFailed:
        return

    assert len(accepted) <= 64
    assert set(accepted) <= set(ALLOWED)
