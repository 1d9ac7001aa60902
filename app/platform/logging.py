"""Structured logs: one JSON object per line, with secrets and phone numbers masked.

`MaskSecrets` is a filter on the handler, so it sees every record that reaches the output,
whichever logger made it (ours, uvicorn's, SQLAlchemy's): mobile numbers become 138****0000,
bearer tokens, API-key values, partner keys, JWTs, refresh tokens and the secrets in WeChat's
request URLs become ***.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

_PHONE = re.compile(r"(?<![0-9A-Za-z])(\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?![0-9A-Za-z])")
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"), r"\1***"),
    (re.compile(r"\bbmg_[0-9a-f]{12}_[\w-]+"), "bmg_***"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"), "***"),
    # WeChat's calls carry the app secret, codes and the access token in the URL (an HTTP
    # client's request log shows them), a login's answer carries the session key.
    (re.compile(r"(?i)\b(secret|js_code|access_token)=[^&\s\"']+"), r"\1=***"),
    (re.compile(r"(?i)(session_key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"), r"\1***"),
    (re.compile(r"\brt_[\w-]{20,}"), "rt_***"),  # members' refresh tokens
)

# Attributes every LogRecord has; anything else on a record is a structured field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def mask(text: str) -> str:
    """`text` with mobile numbers shortened to 138****0000 and credentials replaced by ***."""
    text = _PHONE.sub(lambda m: f"{m[2]}****{m[3]}", text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    return value


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields passed with `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class MaskSecrets(logging.Filter):
    """Mask the message, its arguments, the traceback and the extra fields of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not take the caller down
            message = f"{record.msg!r} {record.args!r}"
        record.msg = mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        for key, value in fields_of(record).items():
            setattr(record, key, _mask_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines with the structured fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in fields_of(record).items() if v is not None)
        if not extra:
            return line
        head, sep, rest = line.partition("\n")
        return f"{head} {extra}{sep}{rest}"


def log_config(fmt: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict (also handed to uvicorn for its workers)."""
    if fmt not in ("json", "text"):
        raise ValueError("log format must be json or text")
    formatter = (
        "app.platform.logging.JsonFormatter"
        if fmt == "json"
        else "app.platform.logging.TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"secrets": {"()": "app.platform.logging.MaskSecrets"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["secrets"],
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's own handlers off: everything goes through the root handler above.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    """Send every log record to stderr as JSON (or text), masked."""
    import logging.config

    logging.config.dictConfig(log_config(fmt, level))
    logging.captureWarnings(True)
