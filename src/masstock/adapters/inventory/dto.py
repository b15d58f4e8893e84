"""The logistics stock API's DeviceDto, and the device it describes."""

from __future__ import annotations

import msgspec

from masstock.domain.device import Device, DeviceKind, normalize_mac
from masstock.domain.errors import ValidationFailed


class DeviceDto(msgspec.Struct, rename="camel"):
    """Every field may be missing; fields this service does not use are ignored."""

    device_id: int | None = None
    imei: str | None = None
    imei2: str | None = None
    serial_number: str | None = None
    brand: str | None = None
    model: str | None = None
    reference: str | None = None
    color: str | None = None
    device_type: str | None = None
    mac: str | None = None
    mac_address: str | None = None


decode_device = msgspec.json.Decoder(DeviceDto).decode


def to_device(
    dto: DeviceDto, *, org: str, identifier: str, kind: DeviceKind | None
) -> Device:
    """The service's device for an upstream answer.

    ``kind`` is fixed when the upstream holds one kind only (a SIM system);
    otherwise a ``deviceType`` naming a SIM makes it one.  A missing reference
    falls back to the model, then to an empty string; a MAC that is not one is
    left out rather than trusted.
    """
    if kind is None:
        is_sim = "SIM" in (dto.device_type or "").upper()
        kind = DeviceKind.SIM if is_sim else DeviceKind.DEVICE
    return Device(
        org=org,
        identifier=identifier,
        reference=dto.reference or dto.model or "",
        mac=_mac(dto.mac or dto.mac_address),
        kind=kind,
    )


def _mac(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalize_mac(value)
    except ValidationFailed:
        return None
