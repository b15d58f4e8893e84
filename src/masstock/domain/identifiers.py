"""What an identifier (device, dealer, org) may look like."""

import re

from masstock.domain.errors import ValidationFailed

MAX_LENGTH = 64
IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_identifier(field: str, value: object) -> str:
    """Return ``value`` if it is a usable identifier, else say what is wrong."""
    if value is None:
        raise ValidationFailed(f"{field} is required")
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string")
    if not value.strip():
        raise ValidationFailed(f"{field} must not be blank")
    if len(value) > MAX_LENGTH:
        raise ValidationFailed(f"{field} must be at most {MAX_LENGTH} characters")
    if not IDENTIFIER.fullmatch(value):
        raise ValidationFailed(
            f"{field} may contain only letters, digits and the characters . _ : -"
        )
    return value


def is_imei(value: str) -> bool:
    """Whether ``value`` is an IMEI: 15 digits whose last is the Luhn check digit."""
    if len(value) != 15 or not value.isascii() or not value.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(value)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
