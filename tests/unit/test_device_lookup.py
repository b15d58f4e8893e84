"""Looking a device up, over an in-memory directory."""

from __future__ import annotations

import pytest

from masstock.domain.device import Device, DeviceKind
from masstock.domain.errors import DeviceNotFound, StorageUnavailable
from masstock.service.devices import look_up_device
from tests.unit.fakes import FakeDeviceDirectory

ROUTER = Device(
    org="masmovil",
    identifier="SN-ROUTER-0001",
    reference="REF-ROUTER-AX3000",
    mac="A4:91:B1:00:00:01",
    kind=DeviceKind.DEVICE,
)


async def test_a_known_device_is_found() -> None:
    device = await look_up_device(
        FakeDeviceDirectory(ROUTER), org="masmovil", identifier="SN-ROUTER-0001"
    )

    assert device == ROUTER


async def test_an_unknown_device_is_not_found_by_identifier() -> None:
    with pytest.raises(DeviceNotFound) as caught:
        await look_up_device(
            FakeDeviceDirectory(ROUTER), org="yoigo", identifier="SN-ROUTER-0001"
        )

    assert caught.value.message == "Device with identifier SN-ROUTER-0001 not found"


async def test_a_catalog_failure_says_the_device_data_could_not_be_read() -> None:
    directory = FakeDeviceDirectory(ROUTER)
    directory.down = True

    with pytest.raises(StorageUnavailable) as caught:
        await look_up_device(directory, org="masmovil", identifier="SN-ROUTER-0001")

    assert caught.value.code == "DATABASE_ERROR"
    assert caught.value.message == "Unable to read device data"
