"""CPU time and resident memory of processes, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Stat:
    pid: int
    parent: int
    command: str
    cpu_seconds: float


def _stat(pid: int) -> Stat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command sits in parentheses and may hold spaces: split after it.
    command = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # utime, stime, then cutime and cstime: children waited for, such as the
    # backends a PostgreSQL postmaster has reaped.
    ticks = sum(int(value) for value in fields[11:15])
    return Stat(pid, int(fields[1]), command, ticks / _TICK)


def _all() -> list[Stat]:
    pids = (entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit())
    found = (_stat(int(pid)) for pid in pids)
    return [stat for stat in found if stat is not None]


def tree(root: int) -> list[int]:
    """``root`` and every live process descended from it."""
    return sorted(stat.pid for stat in _tree(root))


def _tree(root: int) -> list[Stat]:
    stats = _all()
    members = {root}
    grew = True
    while grew:
        grew = False
        for stat in stats:
            if stat.parent in members and stat.pid not in members:
                members.add(stat.pid)
                grew = True
    return [stat for stat in stats if stat.pid in members]


def cpu_of_tree(root: int) -> float:
    """CPU seconds used so far by ``root`` and its live descendants."""
    return sum(stat.cpu_seconds for stat in _tree(root))


def cpu_of_command(command: str) -> float:
    """CPU seconds used so far by every live process named ``command``.

    With the CPU of the children they have waited for: a PostgreSQL server's
    count includes the backends of closed connections.
    """
    return sum(stat.cpu_seconds for stat in _all() if stat.command == command)


def command_line(pid: int) -> str:
    """The arguments a process was started with, joined by spaces."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def resident_bytes(pid: int) -> int:
    """Resident set size of one process, 0 if it is gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * _PAGE
