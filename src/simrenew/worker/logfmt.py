"""Progress lines a log pipeline can parse: `event=renewals.batch claimed=500 …` in the text format;
in JSON (`kit.logs`) the event is the message and each field its own key."""

from __future__ import annotations

import logging

log = logging.getLogger("simrenew.worker")


def _value(value: object) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return f'"{text}"' if (" " in text or "=" in text or not text) else text


def line(event: str, **fields: object) -> str:
    return " ".join([f"event={event}", *(f"{name}={_value(value)}" for name, value in fields.items())])


def info(event: str, **fields: object) -> None:
    log.info(line(event, **fields), extra={"event": event, "event_fields": fields})
