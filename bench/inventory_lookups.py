"""Device lookups per second and their p99: the catalog beside the HTTP inventory.

In one run, on loopback: a catalog of N devices goes into an SQLite catalog and
into ``masstock fake-inventory``; then three ``masstock serve`` processes answer
``GET /v1/orgs/yoigo/device`` from the catalog, from the inventory with its
cache off (every lookup a call: "cold"), and from the inventory with its cache
on (after one pass that fills it: "warm").  wrk (installed from Debian's
packages if missing) drives each for the same time, cycling through every
device, and the figures are printed side by side:

    .venv/bin/python bench/inventory_lookups.py --seconds 5 --connections 32
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.fake_inventory import FakeInventory, write_catalog
from tests.e2e.server import ServerProcess

ORG = "yoigo"

_LUA = """
local identifiers = {%s}
local n = 0
request = function()
  n = n + 1
  local id = identifiers[(n %% #identifiers) + 1]
  return wrk.format("GET", "/v1/orgs/%s/device?identifier=" .. id)
end
"""


def _devices(count: int) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (ORG, f"SN-BENCH-{n:07}", f"REF-BENCH-{n % 50:03}", None, "device")
        for n in range(count)
    ]


@contextmanager
def _server(folder: Path, name: str, env: dict[str, str]) -> Iterator[ServerProcess]:
    server = ServerProcess(
        database_url=f"sqlite:///{folder / f'{name}.db'}",
        env={"MASSTOCK_SWEEP_INTERVAL": "0", **env},
        log_path=folder / f"{name}.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _ensure_wrk() -> str:
    """wrk's path, installing it from Debian's packages if it is missing."""
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return found


def _drive(
    *, wrk: str, base_url: str, script: Path, seconds: int, connections: int
) -> tuple[float, float, float]:
    """wrk against ``base_url``: lookups per second, p50 and p99 in ms."""
    output = subprocess.run(
        [
            wrk,
            "--latency",
            f"--duration={seconds}s",
            f"--connections={connections}",
            "--threads=1",
            f"--script={script}",
            base_url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"some lookups failed:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None:
        raise SystemExit(f"no rate in wrk's output:\n{output}")
    return float(rate.group(1)), _percentile(output, "50%"), _percentile(output, "99%")


def _percentile(output: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if match is None:
        raise SystemExit(f"no {label} latency in wrk's output:\n{output}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120 or not 1 <= args.connections <= 256:
        parser.error("--seconds must be 1..120 and --connections 1..256")

    wrk = _ensure_wrk()
    devices = _devices(args.devices)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        catalog = write_catalog(folder / "catalog.csv", devices)
        subprocess.run(
            [sys.executable, "-m", "masstock", "devices", "import", str(catalog)],
            env={
                **os.environ,
                "MASSTOCK_DATABASE_URL": f"sqlite:///{folder / 'catalog.db'}",
            },
            check=True,
            capture_output=True,
        )
        fake = stack.enter_context(FakeInventory(catalog=catalog))
        inventory = {"MASSTOCK_INVENTORY_URL": fake.base_url}
        servers = {
            "catalog (SQLite)": stack.enter_context(_server(folder, "catalog", {})),
            "inventory, cache cold": stack.enter_context(
                _server(
                    folder, "cold", {**inventory, "MASSTOCK_INVENTORY_CACHE_TTL": "0"}
                )
            ),
            "inventory, cache warm": stack.enter_context(
                _server(folder, "warm", inventory)
            ),
        }
        script = folder / "lookups.lua"
        quoted = ",".join(f'"{identifier}"' for _, identifier, *_ in devices)
        script.write_text(_LUA % (quoted, ORG))

        print(
            f"{args.devices} devices, wrk with {args.connections} connections, "
            f"{args.seconds} s each, loopback, one worker per server"
        )
        with httpx.Client(base_url=servers["inventory, cache warm"].base_url) as client:
            for _, identifier, *_ in devices:  # one pass fills the warm cache
                client.get(f"/v1/orgs/{ORG}/device", params={"identifier": identifier})
        rates = {}
        for name, server in servers.items():
            rate, p50, p99 = _drive(
                wrk=wrk,
                base_url=server.base_url,
                script=script,
                seconds=args.seconds,
                connections=args.connections,
            )
            rates[name] = rate
            print(
                f"{name:<24} {rate:>8,.0f} lookups/s   "
                f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
            )

        base = rates["catalog (SQLite)"]
        print("throughput against the catalog:")
        for name, rate in rates.items():
            print(f"  {name:<22} {rate / base:5.2f} x")


if __name__ == "__main__":
    main()
