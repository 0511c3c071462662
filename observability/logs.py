"""Structured logs (API.md §8.2) with structlog, rendered off the request path.

Callers only build a dict and put a record on a queue; a listener thread renders it (JSON by
default, `AIGW_LOGGING__FORMAT_JSON=false` for console lines), masks secrets and writes it to
stdout or `AIGW_LOGGING__TO_FILE`. Our loggers are `api.*` (access log, request log) and
`aigw.*` (the rest of the gateway); Ray's own loggers are left alone.

The lines written for every request (`Line`: the access log, the request log) skip structlog's
and the stdlib's per-record machinery: the caller queues its dict, and the writer gives it the
same level, logger, timestamp, masking and renderer as every other line.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import threading
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import structlog
from structlog.stdlib import ProcessorFormatter

from core.settings import LoggingSettings
from observability import record as request_record
from observability.formats import iso_utc
from observability.masking import mask, mask_into

ACCESS_LOGGER = "api.access"
REQUEST_LOGGER = "api.request"  # prompt / response text: only when request logging is allowed
OUR_LOGGERS = ("api", "aigw")
POLL_S = 0.05


def _mask_processor(
    logger: Any, name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    record = event_dict.pop("_record", None)
    from_structlog = event_dict.pop("_from_structlog", None)
    masked: dict[str, Any] = mask(dict(event_dict))
    if record is not None:
        masked["_record"], masked["_from_structlog"] = record, from_structlog
    return masked


def _from_record(
    logger: Any, name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    rec: logging.LogRecord | None = event_dict.get("_record")
    for key in [k for k in event_dict if k.startswith("_ray")]:
        del event_dict[key]  # attributes Ray's logging filters put on every record
    if rec is not None:
        event_dict.setdefault("level", rec.levelname.lower())
        event_dict.setdefault("logger", rec.name)
        event_dict.setdefault(
            "timestamp", datetime.fromtimestamp(rec.created, UTC).isoformat(timespec="microseconds")
        )
        correlation_id = getattr(rec, "correlation_id", None)
        if correlation_id:
            event_dict.setdefault("correlation_id", correlation_id)
    return event_dict


class Line(NamedTuple):
    """A line our code builds itself: queued as it is, rendered by the writer thread."""

    logger: str
    levelno: int
    created: float
    event: str
    fields: dict[str, Any]


def _masked_event(line: Line) -> dict[str, Any]:
    """`mask` of `line` as the event dict a structlog call would have produced (same keys, same
    order), built in one copy instead of two."""
    fields = line.fields
    event: dict[str, Any] = {"event": None}
    mask_into(event, fields, 0)
    own: dict[str, Any] = {}  # the writer's own keys a field does not already give
    if "event" not in fields:
        own["event"] = line.event  # already first in `event`
    if "level" not in fields:
        own["level"] = logging.getLevelName(line.levelno).lower()
    if "logger" not in fields:
        own["logger"] = line.logger
    mask_into(event, own, 0)
    if "timestamp" not in event:
        # Digits, `-`, `T`, `:`, `.` and `+` only: masking cannot change it.
        event["timestamp"] = iso_utc(line.created, microseconds=True)
    return event


def _plain_record(line: Line, text: str) -> logging.LogRecord:
    """`line`, already rendered, as a stdlib record (for a handler that is not a stream's)."""
    record = logging.LogRecord(line.logger, line.levelno, "", 0, text, None, None)
    record.created = line.created
    return record


class _BindRequest(logging.Filter):
    """Runs in the caller's thread: tags stdlib records with the request's correlation id."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_record.current()
        if current is not None and not hasattr(record, "correlation_id"):
            record.correlation_id = current.correlation_id
        return True


class _Enqueue(logging.handlers.QueueHandler):
    """Hands the record over as it is; the listener thread does all formatting."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def _write_all(handler: logging.StreamHandler[Any], text: str) -> None:
    reopen = getattr(handler, "reopenIfNeeded", None)  # WatchedFileHandler after logrotate
    handler.acquire()
    try:
        if reopen is not None:
            reopen()
        handler.stream.write(text)
        handler.flush()
    except Exception:
        handler.handleError(logging.makeLogRecord({"msg": "writing a batch of log lines"}))
    finally:
        handler.release()


class LogPipeline:
    """One writer thread that wakes every `poll_s` and writes everything queued since.

    Polling, rather than blocking on the queue, means a request's `emit` never wakes the
    writer: the request thread keeps the GIL, and lines are rendered in batches.
    """

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord | Line],
        handler: logging.Handler,
        poll_s: float = POLL_S,
        renderer: Any = None,
    ) -> None:
        self.records = records
        self.handler = handler
        self.renderer = renderer or _renderer(True)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aigw-log-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """Everything queued, rendered, then written to a stream handler in one write and one
        flush (a write per line made the writer thread a tenth of a busy replica's CPU)."""
        handler = self.handler
        stream = handler if isinstance(handler, logging.StreamHandler) else None
        lines: list[str] = []
        while True:
            try:
                record = self.records.get_nowait()
            except queue.Empty:
                break
            if record.levelno < handler.level:
                continue
            try:
                if isinstance(record, Line):
                    text = self._text(record)
                    if stream is None:
                        handler.handle(_plain_record(record, text))
                    else:
                        lines.append(text + stream.terminator)
                elif stream is None:
                    handler.handle(record)
                else:
                    lines.append(stream.format(record) + stream.terminator)
            except Exception:
                handler.handleError(
                    record if isinstance(record, logging.LogRecord) else _plain_record(record, "")
                )
        if stream is not None and lines:
            _write_all(stream, "".join(lines))

    def _text(self, line: Line) -> str:
        return str(self.renderer(None, "", _masked_event(line)))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._drain()
        self._drain()

    def stop(self) -> None:
        """Write what is queued and stop the writer thread (idempotent)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(5.0)
            self.handler.close()


_active: LogPipeline | None = None


class _JSONRenderer:
    """`structlog.processors.JSONRenderer(default=str)`, which calls `json.dumps(event,
    default=str)`, with that call's encoder built once: given `default`, `json.dumps` builds a
    new `JSONEncoder` for every line (a tenth of rendering an access line)."""

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(default=str).encode

    def __call__(self, logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> str:
        return self._encode(event_dict)


def _renderer(format_json: bool) -> Any:
    if format_json:
        return _JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def formatter(format_json: bool) -> ProcessorFormatter:
    renderer = _renderer(format_json)
    return ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder()],
        processors=[
            _from_record,
            # A traceback is text like any other field (an exception's message may hold a URL
            # with its credentials): rendered first, then masked. Masking turns the exc_info
            # tuple into a list, which format_exc_info no longer recognises.
            structlog.processors.format_exc_info,
            _mask_processor,
            ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )


def configure_logging(
    settings: LoggingSettings, stream: Any = None, handler: logging.Handler | None = None
) -> LogPipeline:
    """Route `api.*` and `aigw.*` through a queue to one writer. Calling it again replaces the
    previous pipeline (tests pass `stream` or `handler` to capture the output)."""
    global _active
    if _active is not None:
        _active.stop()
    if handler is None:
        if settings.to_file:
            handler = logging.handlers.WatchedFileHandler(settings.to_file)
        else:
            # The process's real stdout: in a throughput-optimized Serve replica `sys.stdout`
            # is a shim into Serve's own (buffered, reformatted) replica log.
            handler = logging.StreamHandler(stream or sys.__stdout__ or sys.stdout)
    handler.setFormatter(formatter(settings.format_json))
    records: queue.SimpleQueue[logging.LogRecord | Line] = queue.SimpleQueue()
    enqueue = _Enqueue(records)
    enqueue.addFilter(_BindRequest())
    level = logging.getLevelName(settings.level.upper())
    for name in OUR_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [enqueue]
        logger.setLevel(level if isinstance(level, int) else logging.INFO)
        logger.propagate = False
    _active = LogPipeline(records, handler, renderer=_renderer(settings.format_json))
    return _active


# `logging.getLogger` takes the logging module's lock on every call; a logger, once made,
# is the same object for the life of the process.
_loggers: dict[str, logging.Logger] = {}


def emit(line: Line) -> None:
    """Queue `line` for the writer if its logger takes its level (nothing when logging was
    never configured in this process, as a stdlib logger without handlers would)."""
    pipeline = _active
    if pipeline is None:
        return
    logger = _loggers.get(line.logger)
    if logger is None:
        logger = _loggers[line.logger] = logging.getLogger(line.logger)
    if logger.isEnabledFor(line.levelno):
        pipeline.records.put(line)


def flush_logs() -> None:
    """Write every queued line and stop the writer (at exit / replica shutdown)."""
    if _active is not None:
        _active.stop()


atexit.register(flush_logs)
