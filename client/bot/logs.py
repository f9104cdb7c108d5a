"""Structured logging for bots: one event name plus key/value fields per record.

    log = EventLogger(logging.getLogger("client.bot"))
    log.info("step_confirmed", step=12, signature="5x…", latency_ms=81)

With ``configure_logging(json=True)`` each record is one JSON object per line (for log
shippers); otherwise ``event key=value …``. Only the stdlib ``logging`` module is used, so the
records also flow into whatever handlers an application already installed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final, TextIO

_FIELDS_ATTR: Final = "bot_fields"
_EVENT_ATTR: Final = "bot_event"


class EventLogger:
    """Thin wrapper that attaches an event name and fields to stdlib log records."""

    def __init__(self, logger: logging.Logger, **context: Any) -> None:
        self.logger = logger
        self.context = context

    def bind(self, **context: Any) -> EventLogger:
        return EventLogger(self.logger, **{**self.context, **context})

    def log(self, level: int, event: str, **fields: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        merged = {**self.context, **fields}
        self.logger.log(
            level,
            "%s %s",
            event,
            " ".join(f"{k}={_plain(v)}" for k, v in merged.items()),
            extra={_EVENT_ATTR: event, _FIELDS_ATTR: merged},
        )

    def debug(self, event: str, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(logging.ERROR, event, **fields)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...fields}`` per line; plain records get ``msg``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, _EVENT_ATTR, None)
        if event is not None:
            out["event"] = event
            out.update(getattr(record, _FIELDS_ATTR, {}))
        else:
            out["msg"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, sort_keys=False)


def configure_logging(
    *, json_lines: bool = False, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send ``client.*`` records to ``stream`` (stderr) as JSON lines or ``event k=v`` text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger("client")
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _plain(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text
