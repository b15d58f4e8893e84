"""The database's own limit: pgbench running the service's statements.

The statements come from the adapter modules that issue them, so they cannot
drift from the service.  Their ``$n`` parameters become pgbench variables or
SQL expressions: ``gen_random_uuid()`` for a new reservation's id, ``now()`` for
its times, a random catalog device for a lookup.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Catalog devices are DEVICE_PREFIX + a zero-padded number below the size.
DEVICE_PREFIX = "SN-PERF-"
# Held devices of pgbench's creates are drawn from a space so large that every
# transaction inserts, as the service's creates on distinct devices do.  They
# are removed after the run.
HELD_PREFIX = "PB-"
_DEVICE = f"'{DEVICE_PREFIX}' || lpad(:d::text, 7, '0')"
_HELD = f"'{HELD_PREFIX}' || :u::text"
_RANDOM = "\\set d random(0, :devices - 1)\n\\set u random(1, 1000000000000)\n"


@dataclass(frozen=True, slots=True)
class Run:
    """What pgbench measured."""

    transactions: int
    seconds: float
    failed: int
    p50_ms: float
    p99_ms: float
    load_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.transactions / self.seconds


def statement(sql: str, parameters: Mapping[int, str]) -> str:
    """``sql`` on one line, each ``$n`` replaced by ``parameters[n]``."""

    def replace(match: re.Match[str]) -> str:
        return f"({parameters[int(match.group(1))]})"

    flat = " ".join(sql.split())
    return re.sub(r"\$(\d+)", replace, flat) + ";\n"


def lookup_script(find_device: str, org: str) -> str:
    """A device lookup: the service's one statement."""
    return _RANDOM + statement(find_device, {1: f"'{org}'", 2: _DEVICE})


def create_script(find_device: str, add: str, org: str) -> str:
    """A create as the service issues it: look the device up, then hold it."""
    return (
        _RANDOM
        + statement(find_device, {1: f"'{org}'", 2: _DEVICE})
        + statement(add, _hold_parameters(org))
    )


def reference_create_script(org: str) -> str:
    """The reference create: select device; insert, on conflict nothing; holder."""
    return (
        _RANDOM
        + "BEGIN;\n"
        + f"SELECT reference, mac, kind FROM devices WHERE org = '{org}' "
        + f"AND identifier = {_DEVICE};\n"
        + "INSERT INTO reservations (id, org, device_id, dealer_id, is_sim, status, "
        + "created_at, updated_at, expires_at) "
        + f"VALUES (gen_random_uuid(), '{org}', {_HELD}, 'DEALER-PGBENCH', false, "
        + "'CREATED', now(), now(), now() + interval '72 hours') "
        + "ON CONFLICT (org, device_id) WHERE status = 'CREATED' DO NOTHING;\n"
        + "SELECT id, dealer_id FROM reservations "
        + f"WHERE org = '{org}' AND device_id = {_HELD} AND status = 'CREATED';\n"
        + "END;\n"
    )


def _hold_parameters(org: str) -> dict[int, str]:
    return {
        1: "gen_random_uuid()",
        2: f"'{org}'",
        3: _HELD,
        4: "'DEALER-PGBENCH'",
        5: "false",
        6: "now()",
        7: "now() + interval '72 hours'",
        8: "'pgbench'",
    }


def run(  # noqa: PLR0913 (every knob of a pgbench run)
    *,
    pgbench: str,
    url: str,
    script: str,
    devices: int,
    seconds: float,
    clients: int,
    threads: int = 2,
    on_start: Callable[[], None] | None = None,
) -> Run:
    """Run ``script`` for ``seconds`` with ``clients`` connections, prepared."""
    with tempfile.TemporaryDirectory(prefix="masstock-pgbench-") as tmp:
        folder = Path(tmp)
        (folder / "script.sql").write_text(script)
        if on_start is not None:
            on_start()
        process = subprocess.Popen(
            [
                pgbench,
                "--no-vacuum",
                "--protocol=prepared",
                f"--client={clients}",
                f"--jobs={threads}",
                f"--time={max(1, round(seconds))}",
                f"--define=devices={devices}",
                f"--file={folder / 'script.sql'}",
                "--log",
                f"--log-prefix={folder / 'tx'}",
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if process.stdout is None:
            raise RuntimeError("no pipe from the load generator")
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"pgbench failed:\n{output}")
        latencies = sorted(_latencies_ms(folder))
    return _parse(output, latencies, usage.ru_utime + usage.ru_stime)


def _latencies_ms(folder: Path) -> list[float]:
    found = []
    for log in folder.glob("tx*"):
        for line in log.read_text().splitlines():
            found.append(int(line.split()[2]) / 1000)
    return found


def _parse(output: str, latencies: list[float], load_cpu: float) -> Run:
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    duration = re.search(r"duration: (\d+) s", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if processed is None or duration is None or not latencies:
        raise SystemExit(f"pgbench's output is not what was expected:\n{output}")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Run(
        transactions=int(processed.group(1)),
        seconds=float(duration.group(1)),
        failed=0 if failed is None else int(failed.group(1)),
        p50_ms=cuts[49],
        p99_ms=cuts[98],
        load_cpu_seconds=load_cpu,
    )
