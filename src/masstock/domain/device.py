"""A physical unit in stock, as the inventory knows it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import overload

from masstock.domain.errors import ValidationFailed
from masstock.domain.identifiers import IDENTIFIER, check_identifier

REFERENCE_MAX_LENGTH = 128

_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")


class DeviceKind(StrEnum):
    SIM = "sim"
    DEVICE = "device"


# A device as its checked fields, in the order of the catalog's columns: org,
# identifier, reference, mac (normalized, or None) and the kind's value.  Plain
# strings keep a tuple of them out of the garbage collector's way, which counts
# when millions of them are alive at once.
DeviceFields = tuple[str, str, str, str | None, str]

_KINDS = {kind.value: kind for kind in DeviceKind}
_is_identifier = IDENTIFIER.fullmatch
_is_mac = _MAC.fullmatch


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

    @classmethod
    def of(cls, fields: DeviceFields) -> Device:
        """The device whose checked fields are ``fields``."""
        org, identifier, reference, mac, kind = fields
        return cls(
            org=org,
            identifier=identifier,
            reference=reference,
            mac=mac,
            kind=_KINDS[kind],
        )

    @property
    def fields(self) -> DeviceFields:
        return (self.org, self.identifier, self.reference, self.mac, self.kind.value)

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


class DeviceBatch(Sequence[Device]):
    """Devices kept as their checked fields, made into Device objects only if read.

    Bulk loads pass millions of devices along; a store that can write the
    fields as they are reads ``fields`` and makes no object per device.
    """

    __slots__ = ("fields",)

    def __init__(self, fields: list[DeviceFields]) -> None:
        self.fields = fields

    def __len__(self) -> int:
        return len(self.fields)

    @overload
    def __getitem__(self, index: int) -> Device: ...

    @overload
    def __getitem__(self, index: slice) -> DeviceBatch: ...

    def __getitem__(self, index: int | slice) -> Device | DeviceBatch:
        if isinstance(index, slice):
            return DeviceBatch(self.fields[index])
        return Device.of(self.fields[index])

    def __iter__(self) -> Iterator[Device]:
        return map(Device.of, self.fields)


def device_fields(
    org: str, identifier: str, reference: str, mac: str, kind: str
) -> DeviceFields:
    """The fields of the device a record describes, checked as by Device.from_fields.

    For catalogs of millions of rows: a good record costs a few comparisons
    and no object but the tuple; a bad one goes through ``from_fields``, so
    that the same field is named with the same reason.
    """
    if (
        kind in _KINDS
        and _is_identifier(org)
        and _is_identifier(identifier)
        and reference
        and len(reference) <= REFERENCE_MAX_LENGTH
        and reference.isprintable()
        and not reference.isspace()
        and (not mac or _is_mac(mac))
    ):
        normalized = mac.replace("-", ":").upper() if mac else None
        return (org, identifier, reference, normalized, kind)

    return Device.from_fields(
        org=org, identifier=identifier, reference=reference, mac=mac, kind=kind
    ).fields


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
