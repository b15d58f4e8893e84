"""Dealers under load, what the service acknowledged to them, and the checks
that every acknowledgement still holds in the database."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from tests.e2e.server import ServerProcess

T = TypeVar("T")

SCALE = "MASSTOCK_RELIABILITY_SCALE"
FIGURES = "MASSTOCK_RELIABILITY_FIGURES"
ORG = "yoigo"
RESERVATIONS = f"/v1/orgs/{ORG}/reservation"
DOUBLE_HOLDS = (
    "SELECT org, device_id, count(*) FROM reservations WHERE status = 'CREATED' "
    "GROUP BY org, device_id HAVING count(*) > 1"
)
ALL_ROWS = "SELECT id, device_id, dealer_id, status FROM reservations"


def is_long() -> bool:
    """Whether this run is the long one (``MASSTOCK_RELIABILITY_SCALE=long``)."""
    return os.environ.get(SCALE, "short") == "long"


def sized(*, short: T, long: T) -> T:
    """The figure for this run's scale."""
    return long if is_long() else short


def record(test: str, **figures: object) -> None:
    """Keep a test's figures for ``bench/reliability.py`` to print, if it asked."""
    path = os.environ.get(FIGURES)
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as file:
        file.write(json.dumps({"test": test, **figures}) + "\n")


def handsets(count: int) -> list[tuple[str, str, str, str | None, str]]:
    """``count`` handsets of the catalog, by IMEI-like identifiers."""
    return [
        (ORG, f"35693803{n:07}", "REF-IPHONE-17", None, "device") for n in range(count)
    ]


def percentile(latencies: list[float], fraction: float) -> float:
    """The latency under which ``fraction`` of the requests answered, in ms."""
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    index = min(len(ordered) - 1, int(fraction * len(ordered)))
    return round(ordered[index] * 1000, 1)


@dataclass
class Budget:
    """How many operations remain, until when, and whether to stop early."""

    operations: int
    seconds: float
    started: float = field(default_factory=time.monotonic)
    stopped: bool = False

    def take(self) -> bool:
        if self.stopped or time.monotonic() - self.started > self.seconds:
            return False
        if self.operations <= 0:
            return False
        self.operations -= 1
        return True


@dataclass
class Answer:
    at: float
    status: int
    code: str | None
    text: str


@dataclass
class Ledger:
    """Everything the service acknowledged, and every answer it gave."""

    creates: dict[str, tuple[str, str]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    finalized: set[str] = field(default_factory=set)
    answers: list[Answer] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    transport_errors: int = 0

    @property
    def statuses(self) -> Counter[int]:
        return Counter(answer.status for answer in self.answers)

    def server_errors(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.status >= 500]


async def send(
    client: httpx.AsyncClient, path: str, *, body: dict[str, Any], ledger: Ledger
) -> httpx.Response | None:
    """POST ``body``; the answer, or None when the connection failed."""
    started = time.monotonic()
    try:
        response = await client.post(path, json=body)
    except httpx.TransportError:
        # A point of sale whose server is gone waits a moment before the next
        # sale, rather than spinning on refused connections.
        ledger.transport_errors += 1
        await asyncio.sleep(0.05)
        return None
    finished = time.monotonic()

    ledger.latencies.append(finished - started)
    code = None
    if response.headers.get("content-type", "").startswith("application/json"):
        code = response.json().get("code") if response.content else None
    ledger.answers.append(Answer(finished, response.status_code, code, response.text))
    return response


async def dealer(
    *,
    dealer_id: str,
    clients: list[httpx.AsyncClient],
    devices: list[str],
    ledger: Ledger,
    budget: Budget,
) -> None:
    """One dealer: holds devices, then cancels or finalizes its own holds.

    When an answer is lost (a killed server, a 5xx), the dealer recovers as a
    point of sale would: it closes again later, since closing twice is a no-op,
    and it takes back a hold of its own that a conflict names.
    """
    rng = random.Random(dealer_id)  # noqa: S311 (load, not secrets)
    held: list[str] = []
    while budget.take():
        client = rng.choice(clients)
        if held and rng.random() < 0.5:
            reservation_id = held.pop(rng.randrange(len(held)))
            action = rng.choice(("cancellation", "finalization"))
            path = f"{RESERVATIONS}/{reservation_id}/{action}"
            response = await send(
                client, path, body={"dealer": dealer_id}, ledger=ledger
            )
            if response is None or response.status_code >= 500:
                held.append(reservation_id)
            elif response.status_code == 200:
                closed = (
                    ledger.cancelled if action == "cancellation" else ledger.finalized
                )
                closed.add(reservation_id)
            continue
        device_id = rng.choice(devices)
        body = {"device_id": device_id, "dealer_id": dealer_id, "is_sim": False}
        response = await send(client, RESERVATIONS, body=body, ledger=ledger)
        if response is None:
            continue
        if response.status_code == 200:
            reservation_id = response.json()["reservation_id"]
            ledger.creates[reservation_id] = (device_id, dealer_id)
            held.append(reservation_id)
        elif response.status_code == 409:
            holder = response.json()
            mine = holder["dealer_id"] == dealer_id
            if mine and holder["reservation_id"] not in held:
                held.append(holder["reservation_id"])


async def dealers(
    *,
    count: int,
    clients: list[httpx.AsyncClient],
    devices: list[str],
    ledger: Ledger,
    budget: Budget,
) -> None:
    """``count`` dealers at once, each with a name of its own, until the budget
    runs out."""
    await asyncio.gather(
        *(
            dealer(
                dealer_id=f"DEALER{n:03}",
                clients=clients,
                devices=devices,
                ledger=ledger,
                budget=budget,
            )
            for n in range(count)
        )
    )


@dataclass
class Watch:
    """What a watcher of the database saw: how often it looked, what was wrong."""

    checks: int = 0
    double_holds: list[tuple[Any, ...]] = field(default_factory=list)


async def watch_double_holds(url: str, *, stop: asyncio.Event, watch: Watch) -> None:
    """Look for two CREATED holds of one device every half second, until told to
    stop; a database that is away is looked at again next time."""
    while not stop.is_set():
        try:
            connection = await asyncpg.connect(url, timeout=2)
            try:
                rows = await connection.fetch(DOUBLE_HOLDS, timeout=2)
            finally:
                connection.terminate()
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ):
            rows = None
        if rows is not None:
            watch.checks += 1
            watch.double_holds.extend(tuple(row) for row in rows)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        except TimeoutError:
            continue


async def under_attack(
    *,
    base_urls: list[str],
    database_url: str,
    connections: int,
    devices: list[str],
    ledger: Ledger,
    seconds: float,
    attack: Callable[[Budget], Awaitable[None]],
) -> Watch:
    """Dealers at work on ``base_urls`` while ``attack`` runs, a watcher on the
    database all along; what the watcher saw."""
    clients = clients_of(base_urls, connections=connections)
    stop, watch = asyncio.Event(), Watch()
    watcher = asyncio.create_task(
        watch_double_holds(database_url, stop=stop, watch=watch)
    )
    budget = Budget(operations=1_000_000, seconds=seconds)
    try:
        await asyncio.gather(
            dealers(
                count=connections,
                clients=clients,
                devices=devices,
                ledger=ledger,
                budget=budget,
            ),
            attack(budget),
        )
    finally:
        budget.stopped = True
        stop.set()
        await watcher
        for client in clients:
            await client.aclose()
    return watch


def lost_acknowledgements(rows: list[tuple[Any, ...]], ledger: Ledger) -> list[str]:
    """Each acknowledged change the database rows do not show."""
    table = {str(row[0]): row[1:] for row in rows}
    wrong = []
    for reservation_id, (device_id, dealer_id) in ledger.creates.items():
        found = table.get(reservation_id)
        if found is None or tuple(found[:2]) != (device_id, dealer_id):
            wrong.append(f"create {reservation_id}: {found}")
    for ids, status in (
        (ledger.cancelled, "CANCELLED"),
        (ledger.finalized, "FINALIZED"),
    ):
        for reservation_id in ids:
            found = table.get(reservation_id)
            if found is None or found[2] != status:
                wrong.append(f"{status} {reservation_id}: {found}")
    return wrong


def double_holds(rows: list[tuple[Any, ...]]) -> list[str]:
    """Each device held by more than one CREATED reservation."""
    holders = Counter(row[1] for row in rows if row[3] == "CREATED")
    return [device_id for device_id, count in holders.items() if count > 1]


def clients_of(base_urls: list[str], *, connections: int) -> list[httpx.AsyncClient]:
    """One client per server, each able to carry every dealer at once."""
    limits = httpx.Limits(max_connections=connections)
    return [
        httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0)
        for url in base_urls
    ]


def start_all(servers: list[ServerProcess]) -> None:
    """Start every server at once: each spends seconds importing before it
    answers."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        for started in [pool.submit(server.start) for server in servers]:
            started.result()
