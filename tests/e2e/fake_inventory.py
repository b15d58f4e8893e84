"""``masstock fake-inventory`` as a real process, with its admin API at hand."""

from __future__ import annotations

import csv
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypedDict, Unpack

import httpx

from tests.e2e.server import free_port

# (org, identifier, reference, mac or None, kind), as tests/e2e/conftest.py has.
CatalogRow = tuple[str, str, str, str | None, str]

_READY = "fake inventory listening on "


def write_catalog(path: Path, devices: Iterable[CatalogRow]) -> Path:
    """Write devices as a catalog CSV the fake (and ``devices import``) can load."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["org", "identifier", "reference", "mac", "kind"])
        for org, identifier, reference, mac, kind in devices:
            writer.writerow([org, identifier, reference, mac or "", kind])
    return path


class Faults(TypedDict, total=False):
    """The fault switches of ``PUT /_admin/faults``; see fake_inventory/faults.py."""

    delay: float
    hang: bool
    status: int
    error_rate: float
    retry_after: int
    reset: bool
    truncate: bool
    garbage: bool
    oversize: int
    redirect: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Calls:
    """What the fake has been asked since it started or was last reset."""

    lookups: int
    token_requests: int
    last_query: dict[str, str | None] | None
    last_authorized: bool | None


class FakeInventory:
    """One ``masstock fake-inventory`` process; stop and start it at will.

    The port is chosen once, so a restarted fake answers at the same
    ``base_url``: an upstream that went down and came back.
    """

    def __init__(
        self,
        *,
        catalog: Path,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_ttl: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.catalog = catalog
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._options = _options(
            token=token,
            client_id=client_id,
            client_secret=client_secret,
            token_ttl=token_ttl,
        )
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 15.0) -> None:
        """Start the fake and wait for its ``listening`` line."""
        if self._process is not None:
            raise RuntimeError("the fake inventory is already running")
        # Not a with-block: the log outlives this method, and stop() closes it.
        self._log = (
            self._log_path.open("a+b")
            if self._log_path is not None
            else tempfile.TemporaryFile()  # noqa: SIM115
        )
        command = [
            sys.executable,
            "-m",
            "masstock",
            "fake-inventory",
            "--port",
            str(self.port),
            "--catalog",
            str(self.catalog),
            "--log-level",
            "warning",
            *self._options,
        ]
        self._process = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._wait_until_ready(timeout)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Stop the fake with ``sig``; its exit code, or None if it was not running."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def set_faults(self, **faults: Unpack[Faults]) -> dict[str, Any]:
        """Replace the faults in force (see ``PUT /_admin/faults``); as echoed."""
        response = self._admin("PUT", "/_admin/faults", body=faults)
        echoed: dict[str, Any] = response.json()["faults"]
        return echoed

    def faults(self) -> dict[str, Any]:
        """The faults in force, ``count`` being the lookups they have left."""
        shown: dict[str, Any] = self._admin("GET", "/_admin/faults").json()["faults"]
        return shown

    def clear_faults(self) -> None:
        """Let every lookup be answered normally again."""
        self._admin("DELETE", "/_admin/faults")

    def calls(self) -> Calls:
        """What the fake has been asked."""
        counters = self._admin("GET", "/_admin/calls").json()
        return Calls(
            lookups=counters["lookups"],
            token_requests=counters["token_requests"],
            last_query=counters["last_query"],
            last_authorized=counters["last_authorized"],
        )

    def reset_calls(self) -> None:
        """Set the counters back to zero."""
        self._admin("DELETE", "/_admin/calls")

    def _admin(self, method: str, path: str, *, body: object = None) -> httpx.Response:
        url = f"{self.base_url}{path}"
        response = httpx.request(method, url, json=body, timeout=5.0)
        response.raise_for_status()
        return response

    def _wait_until_ready(self, timeout: float) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            readable, _, _ = select.select([process.stdout], [], [], 0.1)
            if readable:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        if line.decode(errors="replace").startswith(_READY):
            return

        if process.poll() is None:
            process.kill()
        code = process.wait()
        said = self._log_tail()
        self.stop()
        message = (
            f"masstock fake-inventory did not start (exit code {code}); "
            f"stdout {line!r}; stderr {said!r}"
        )
        raise RuntimeError(message)

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]


def _options(
    *,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    token_ttl: int | None,
) -> list[str]:
    pairs = [
        ("--token", token),
        ("--client-id", client_id),
        ("--client-secret", client_secret),
        ("--token-ttl", None if token_ttl is None else str(token_ttl)),
    ]
    return [
        part for flag, value in pairs if value is not None for part in (flag, value)
    ]
