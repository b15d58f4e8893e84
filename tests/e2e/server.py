"""``masstock serve`` as a real process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """One ``masstock serve`` process; start, stop and restart it at will."""

    def __init__(
        self,
        *,
        database_url: str,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self.database_url = database_url
        self._python = python
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = {
            **os.environ,
            "MASSTOCK_DATABASE_URL": database_url,
            "MASSTOCK_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The process id of the server (uvicorn's supervisor with workers)."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def log_events(self) -> list[dict[str, Any]]:
        """Every JSON event the server has logged so far."""
        if self._log_path is None:
            raise RuntimeError("the server was started without a log file")
        lines = self._log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def access_event(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The access event of a request: written just after its answer, so wait."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                event
                for event in self.log_events()
                if event["event"] == "request" and event.get("request_id") == request_id
            ]
            if found or time.monotonic() > deadline:
                (event,) = found
                return event
            time.sleep(0.05)

    def start(self, timeout: float = 30.0) -> None:
        if self._log_path is None:
            self._spawn(subprocess.DEVNULL)
        else:
            with self._log_path.open("ab") as log:
                self._spawn(log)
        self._wait_until_answering(timeout)

    def _spawn(self, log: Any) -> None:
        self._process = subprocess.Popen(
            [
                self._python,
                "-m",
                "masstock",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self._env,
            stdout=log,
            stderr=log,
        )

    def _wait_until_answering(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                message = f"masstock serve exited with {self._process.returncode}"
                raise RuntimeError(message)
            try:
                httpx.get(f"{self.base_url}/openapi.json", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            return
        self.stop()
        raise RuntimeError(f"masstock serve did not answer within {timeout}s")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        if self._process is None:
            return None
        self._process.send_signal(sig)
        try:
            code = self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        self._process = None
        return code

    def restart(self) -> None:
        self.stop()
        self.start()
