"""Structured JSON logs: one line per event, carrying the request id bound for the request.

The standard library's loggers (ours, uvicorn's, SQLAlchemy's) go through the same renderer, so
an operator's log pipeline reads one format. Nothing here logs bodies or query strings: they
hold addresses, phones and where people search from.
"""

import logging
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import orjson
import structlog

_configured = False
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _describe(exc: BaseException) -> str:
    """The exception's type and, for database errors, its SQLSTATE and constraint: never its
    message, which may quote a failing row ("Failing row contains (...)") or a bad input."""
    kind = type(exc)
    words = [f"{kind.__module__}.{kind.__qualname__}"]
    orig = getattr(exc, "orig", None) or exc
    if sqlstate := getattr(orig, "sqlstate", None):
        words.append(f"sqlstate={sqlstate}")
    diag = getattr(orig, "diag", None)
    if constraint := getattr(diag, "constraint_name", None):
        words.append(f"constraint={constraint}")
    return " ".join(words)


def redacted_traceback(exc: BaseException) -> str:
    """Frames (file, line, function, source line) and exception types, for the whole chain."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{_describe(current)}")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n\nwhile handling or caused by:\n\n".join(parts)


def _capture_exc_info(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # `log.exception(...)` says exc_info=True; pin the exception now, while it is being handled,
    # so a handler that formats later (or elsewhere) still sees it.
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _redact_exceptions(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    raw = event_dict.pop("exc_info", None)
    info: _ExcInfo | tuple[None, None, None] | None = None
    if raw is True:
        info = sys.exc_info()
    elif isinstance(raw, BaseException):
        info = (type(raw), raw, raw.__traceback__)
    elif isinstance(raw, tuple):
        info = raw
    if info is not None and info[1] is not None:
        event_dict["exception"] = redacted_traceback(info[1])
    return event_dict


# What every line carries besides its own keys: bound context (the request id), level, logger
# name and time. Structlog calls run them per call; other libraries' records get them from the
# formatter (`foreign_pre_chain`); `log_request` runs them itself.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _json(value: Any, **_kw: Any) -> str:
    # orjson: a tenth of the standard library's time per line; anything it cannot encode is
    # written as its repr, as structlog's own renderer does.
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Idempotent: the app factory runs once per app, tests build many apps in one process."""
    global _configured, _json_handler
    shared = _SHARED
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json) if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, _capture_exc_info, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if _configured:
        return
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact_exceptions,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    _json_handler = handler if json else None
    root = logging.getLogger()
    # Added beside, not instead of, handlers others installed (a test runner's capture).
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own handlers would print a second, unstructured copy of its records.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    _configured = True


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)


_REQUESTS = logging.getLogger("app.requests")
# The handler configure_logging installed, when it writes JSON lines: see `log_request`.
_json_handler: logging.StreamHandler[Any] | None = None


def _only_destination(logger: logging.Logger, handler: logging.Handler) -> bool:
    """Whether `handler` (on the root logger) is the one place a record of `logger` goes, with no
    filter anywhere on the way that could drop or change it."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return False
        if current.parent is None:  # the root
            return current.handlers == [handler] and not handler.filters
        if current.handlers or not current.propagate:
            return False
        current = current.parent
    return False


def log_request(**fields: Any) -> None:
    """The one line per request: `get_logger("app.requests").info("request", **fields)`, the same
    keys in the same order, without the generic call path (a bound logger's dispatch, the
    standard library's search of the stack for a caller that the line never names, a record
    copied for the formatter), which cost more than the rest of a short request's middleware.

    When the JSON handler `configure_logging` installed is the only destination, the line is
    rendered as that handler renders it and written to its stream under its lock; otherwise (a
    test's capture, an operator's extra handler) it goes through `logging` as a record that the
    same formatter renders. tests/observability/test_requests.py checks the two agree."""
    logger = _REQUESTS
    if not logger.isEnabledFor(logging.INFO):
        return
    event: Any = {**fields, "event": "request"}
    for processor in _SHARED:
        event = processor(logger, "info", event)
    handler = _json_handler
    if handler is not None and handler.level <= logging.INFO and _only_destination(logger, handler):
        line = _json(event) + handler.terminator
        handler.acquire()
        try:
            handler.stream.write(line)
            handler.flush()
            return
        except Exception:  # noqa: S110 (the record path below reports it as logging does)
            pass
        finally:
            handler.release()
    # The shape structlog's `wrap_for_formatter` gives a record, so ProcessorFormatter renders
    # it as one of its own.
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, event, (), None, extra={"_logger": logger, "_name": "info"}
    )
    logger.handle(record)
