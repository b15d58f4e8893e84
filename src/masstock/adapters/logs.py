"""Where log events go: one line each, readable in a terminal, JSON in production.

Every request writes at least one event, so their rendering is on the hot
path: JSON comes from msgspec, the timestamp's date and time are formatted
once a second, and the events of one turn of the event loop leave in one
write instead of one each.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
import structlog
from structlog.typing import EventDict

_ENCODER = msgspec.json.Encoder(enc_hook=str)


def configure_logging(
    *, level: str, log_format: str, stream: TextIO | None = None
) -> None:
    """Send structlog's events, and every library's records, to ``stream``."""
    stream = sys.stderr if stream is None else stream
    number = logging.getLevelName(level.upper())
    renderer: structlog.typing.Processor = (
        render_json
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    # httpx reports every request at INFO; the inventory adapter logs its own
    # events, with the outcome and without the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic tells of its dialect at every upgrade; the upgrade logs its own.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Records of other libraries (uvicorn's start and stop, asyncio's
    # complaints) come out in the same format, one write each.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.processors.add_log_level, add_timestamp],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(number)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_timestamp,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=_LineLoggerFactory(LineWriter(stream)),
        cache_logger_on_first_use=True,
    )


def render_json(_logger: Any, _method: str, event: EventDict) -> str:
    """The event as one line of JSON; what JSON cannot hold, as its str()."""
    return _ENCODER.encode(event).decode()


class _Seconds:
    """The date and time of the current second, formatted when it changes."""

    second = -1
    text = ""


def add_timestamp(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """``timestamp``: now, in UTC, ISO 8601 with microseconds and a Z."""
    now = time.time()
    second = int(now)
    if second != _Seconds.second:
        _Seconds.text = datetime.fromtimestamp(second, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        _Seconds.second = second
    event["timestamp"] = f"{_Seconds.text}.{int((now - second) * 1e6):06d}Z"
    return event


# Writes to a pipe of at most this many bytes are never cut by another
# writer's; a character of UTF-8 is at most four bytes.
_PIPE_BUF = 4096
_BATCH_CHARS = _PIPE_BUF // 4


class LineWriter:
    """Whole lines to ``stream``: at once outside an event loop, else once a turn.

    Workers share one log file or pipe, so no event is ever written in two
    parts; the lines of one turn leave together in writes of at most
    ``_PIPE_BUF`` bytes, each cut at a line's end.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending: list[str] = []
        self._chars = 0
        atexit.register(self.flush)

    def add(self, line: str) -> None:
        """Write ``line`` (which ends in a newline) now or at the end of this turn."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._stream.write(line)
            self._stream.flush()
            return

        if not self._pending:
            loop.call_soon(self.flush)
        if self._chars + len(line) > _BATCH_CHARS:
            self.flush()
        self._pending.append(line)
        self._chars += len(line)

    def flush(self) -> None:
        """Write every pending line."""
        if not self._pending:
            return
        lines, self._pending, self._chars = self._pending, [], 0
        self._stream.write("".join(lines))
        self._stream.flush()


class _LineLogger:
    """structlog's end of the line: each rendered event becomes one line."""

    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer

    def msg(self, message: str) -> None:
        self._writer.add(message + "\n")

    debug = info = warning = warn = error = critical = exception = fatal = msg


class _LineLoggerFactory:
    def __init__(self, writer: LineWriter) -> None:
        self._logger = _LineLogger(writer)

    def __call__(self, *_args: Any) -> _LineLogger:
        return self._logger
