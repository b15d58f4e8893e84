"""HTTP load from wrk: one Lua script drives every operation of the API.

Each operation reads its items (devices, reservations, dealers) from a file,
one per line; each wrk thread takes every n-th line, builds its requests
once, and cycles through them.  Answers are counted by status in Lua, so an
error is any answer the operation does not expect, or a socket error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

_SCRIPT = Template(r"""
local OP = "$op"
local ORG = "$org"
local ITEMS = "$items"
local THREADS = $threads
local DELAY_MS = $delay_ms
local JSON = {["Content-Type"] = "application/json"}
local BASE = "/v1/orgs/" .. ORG

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function cancel(id, dealer)
  return wrk.format("POST", BASE .. "/reservation/" .. id .. "/cancellation",
    JSON, '{"dealer":"' .. dealer .. '"}')
end

local function build(item)
  local first, second = item:match("^(%S+) ?(%S*)$$")
  if OP == "lookup" then
    return wrk.format("GET", BASE .. "/device?identifier=" .. first)
  elseif OP == "create" or OP == "create_hot" or OP == "churn" then
    return wrk.format("POST", BASE .. "/reservation", JSON,
      '{"device_id":"' .. first .. '","dealer_id":"' .. second
      .. '","is_sim":false}')
  elseif OP == "cancel" then
    return cancel(first, second)
  elseif OP == "get" then
    return wrk.format("GET", BASE .. "/reservation/" .. first)
  elseif OP == "history" then
    return wrk.format("GET", BASE .. "/reservation/" .. first .. "/history")
  elseif OP == "search" then
    return wrk.format("GET", BASE .. "/reservations?limit=20&dealer_id=" .. first)
  elseif OP == "floor" then
    return wrk.format("GET", "/health/live")
  end
  error("unknown operation " .. OP)
end

function init(args)
  prepared = {}
  local line = 0
  for item in io.lines(ITEMS) do
    if line % THREADS == tid then
      prepared[#prepared + 1] = build(item)
    end
    line = line + 1
  end
  sent = 0
  pending = {}
  ok, conflict, other = 0, 0, 0
end

function request()
  if #pending > 0 then
    return table.remove(pending)
  end
  sent = sent + 1
  return prepared[((sent - 1) % #prepared) + 1]
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    if OP == "churn" then
      local id = body:match('"reservation_id":"([^"]+)"')
      if id then
        pending[#pending + 1] = cancel(id, "DEALER-CHURN")
      end
    end
  elseif status == 409 then
    conflict = conflict + 1
  else
    other = other + 1
  end
end

if DELAY_MS > 0 then
  function delay()
    return DELAY_MS
  end
end

function done(summary, latency, requests)
  local totals = {ok = 0, conflict = 0, other = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  io.write(string.format("MASSTOCK ok=%d conflict=%d other=%d p50=%d p99=%d\n",
    totals.ok, totals.conflict, totals.other,
    latency:percentile(50), latency:percentile(99)))
end
""")


@dataclass(frozen=True, slots=True)
class Load:
    """What wrk measured: answers by kind, latency in ms, wrk's own CPU."""

    requests: int
    seconds: float
    ok: int
    conflicts: int
    unexpected: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    load_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def ensure_installed(program: str, package: str) -> str:
    """The path of ``program``, installing ``package`` from Debian if missing."""
    found = shutil.which(program)
    if found is None:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True)
        found = shutil.which(program)
    if found is None:
        raise SystemExit(f"{program} is needed: apt-get install {package}")
    return found


def write_items(path: Path, items: list[str]) -> Path:
    path.write_text("".join(f"{item}\n" for item in items))
    return path


def drive(  # noqa: PLR0913 (every knob of a wrk run)
    *,
    wrk: str,
    base_url: str,
    operation: str,
    items: Path,
    org: str,
    seconds: float,
    connections: int,
    threads: int = 2,
    rate: float | None = None,
) -> Load:
    """Run wrk for ``seconds``; ``rate`` (requests/s) paces it instead of flat out."""
    delay_ms = 0 if rate is None else max(1, round(1000 * connections / rate))
    script = items.with_suffix(f".{operation}.lua")
    script.write_text(
        _SCRIPT.substitute(
            op=operation, org=org, items=items, threads=threads, delay_ms=delay_ms
        )
    )
    process = subprocess.Popen(
        [
            wrk,
            f"--duration={max(1, round(seconds))}s",
            f"--connections={connections}",
            f"--threads={threads}",
            "--timeout=10s",
            f"--script={script}",
            base_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout is None:
        raise RuntimeError("no pipe from the load generator")
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{output}")
    return _parse(output, usage.ru_utime + usage.ru_stime)


def _parse(output: str, load_cpu: float) -> Load:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    counts = re.search(
        r"MASSTOCK ok=(\d+) conflict=(\d+) other=(\d+) p50=(\d+) p99=(\d+)", output
    )
    if total is None or counts is None:
        raise SystemExit(f"wrk's output is not what was expected:\n{output}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = 0 if sockets is None else sum(map(int, sockets.groups()))
    return Load(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * unit,
        ok=int(counts.group(1)),
        conflicts=int(counts.group(2)),
        unexpected=int(counts.group(3)),
        socket_errors=socket_errors,
        p50_ms=int(counts.group(4)) / 1000,
        p99_ms=int(counts.group(5)) / 1000,
        load_cpu_seconds=load_cpu,
    )
