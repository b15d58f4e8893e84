"""Looking a device up in the inventory."""

from __future__ import annotations

from masstock.domain.device import Device
from masstock.domain.errors import DeviceNotFound, StorageUnavailable
from masstock.service.ports import DeviceDirectory


async def look_up_device(
    devices: DeviceDirectory, *, org: str, identifier: str
) -> Device:
    """The device known under ``identifier`` in ``org``."""
    try:
        device = await devices.find(org, identifier)
    except StorageUnavailable as exc:
        raise StorageUnavailable(
            "Unable to read device data",
            "The device catalog could not be read. Please try again later.",
        ) from exc

    if device is None:
        raise DeviceNotFound(identifier)
    return device
