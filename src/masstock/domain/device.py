"""A physical unit in stock, as the inventory knows it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from masstock.domain.errors import ValidationFailed
from masstock.domain.identifiers import check_identifier

REFERENCE_MAX_LENGTH = 128

_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")


class DeviceKind(StrEnum):
    SIM = "sim"
    DEVICE = "device"


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    org: str
    identifier: str
    reference: str
    mac: str | None
    kind: DeviceKind

    @classmethod
    def from_fields(
        cls, *, org: str, identifier: str, reference: str, mac: str, kind: str
    ) -> Device:
        """The device an inventory record describes, or say which field is wrong.

        An empty ``mac`` means the device has none.
        """
        return cls(
            org=check_identifier("org", org),
            identifier=check_identifier("identifier", identifier),
            reference=check_reference(reference),
            mac=normalize_mac(mac) if mac else None,
            kind=parse_kind(kind),
        )

    @property
    def is_sim(self) -> bool:
        return self.kind is DeviceKind.SIM

    def check_kind(self, *, is_sim: bool) -> None:
        """Refuse a reservation whose ``is_sim`` does not match this device."""
        if is_sim and not self.is_sim:
            raise ValidationFailed(
                f"is_sim is true but device {self.identifier} is not a SIM card"
            )
        if not is_sim and self.is_sim:
            raise ValidationFailed(
                f"is_sim is false but device {self.identifier} is a SIM card"
            )


def normalize_mac(value: str) -> str:
    """Return a MAC address as upper-case, colon-separated pairs."""
    if not _MAC.fullmatch(value):
        raise ValidationFailed(
            f"mac {value!r} is not a MAC address like 00:1A:2B:3C:4D:5E"
        )
    return value.replace("-", ":").upper()


def check_reference(value: str) -> str:
    """Return ``value`` if it can be a device's article reference."""
    if not value.strip():
        raise ValidationFailed("reference must not be blank")
    if len(value) > REFERENCE_MAX_LENGTH:
        raise ValidationFailed(
            f"reference must be at most {REFERENCE_MAX_LENGTH} characters"
        )
    if not value.isprintable():
        raise ValidationFailed("reference must be printable text")
    return value


def parse_kind(value: str) -> DeviceKind:
    """The kind named ``sim`` or ``device``."""
    try:
        return DeviceKind(value)
    except ValueError:
        raise ValidationFailed(f"kind must be sim or device, not {value!r}") from None
