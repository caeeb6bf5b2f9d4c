"""Structured JSON logs: one line per event, carrying the request id bound for the request.

The standard library's loggers (ours, uvicorn's, SQLAlchemy's) go through the same renderer, so
an operator's log pipeline reads one format. Nothing here logs bodies or query strings: they
hold addresses, phones and where people search from.
"""

import logging
import sys
from typing import Any

import structlog

_configured = False


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Idempotent: the app factory runs once per app, tests build many apps in one process."""
    global _configured
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
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
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
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
