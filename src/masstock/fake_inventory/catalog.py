"""The fake's stock: a catalog CSV held in memory, served as DeviceDtos."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from masstock.domain.device import Device
from masstock.domain.errors import ValidationFailed

LOAD_DATE = "2026-11-30"


class BadCatalog(ValidationFailed):
    """Some rows of the catalog are not devices; the fake will not start."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StockedDevice:
    """A device of the catalog and the line it came from, its ``deviceId``."""

    line: int
    device: Device


class Stock:
    """The devices of one catalog, found by org and identifier."""

    def __init__(self, devices: dict[tuple[str, str], StockedDevice]) -> None:
        self._devices = devices

    def __len__(self) -> int:
        return len(self._devices)

    def find(self, *, org: str, identifier: str) -> StockedDevice | None:
        """The device under ``identifier`` in ``org``, if the catalog has it."""
        return self._devices.get((org, identifier))


def load_stock(rows: Iterable[tuple[int, Device | str]], *, name: str) -> Stock:
    """The devices of a catalog's rows; BadCatalog, in one line, if any is bad."""
    devices: dict[tuple[str, str], StockedDevice] = {}
    problems: list[str] = []

    for line, row in rows:
        if isinstance(row, str):
            problems.append(f"line {line}: {row}")
            continue
        key = (row.org, row.identifier)
        if key in devices:
            first = devices[key].line
            where = f"org {row.org}, {row.identifier}"
            problems.append(f"line {line}: duplicates line {first} ({where})")
            continue
        devices[key] = StockedDevice(line=line, device=row)

    if problems:
        others = len(problems) - 1
        more = f" (and {others} more bad row{'s' if others > 1 else ''})"
        raise BadCatalog(f"{name}: {problems[0]}{more if others else ''}")
    return Stock(devices)


def device_dto(stocked: StockedDevice) -> dict[str, object]:
    """The logistics API's DeviceDto for a device: an IMEI if 15 digits long."""
    device = stocked.device
    identifier = device.identifier
    is_imei = len(identifier) == 15 and identifier.isascii() and identifier.isdigit()

    dto: dict[str, object] = {"deviceId": stocked.line}
    dto["imei" if is_imei else "serialNumber"] = identifier
    dto["reference"] = device.reference
    dto["deviceType"] = "SIM" if device.is_sim else "HANDSET"
    if device.mac is not None:
        dto["mac"] = device.mac
    dto["brand"] = None
    dto["loadDate"] = LOAD_DATE
    return dto
