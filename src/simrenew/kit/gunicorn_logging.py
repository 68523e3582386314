"""gunicorn's logger for `simrenew serve` (`--logger-class`): its access and error logs redacted, and
in JSON when the logs are (`kit.logs.log_format`: SIMRENEW_LOG_FORMAT, JSON outside the sandbox)."""

from __future__ import annotations

import traceback
from typing import Any

from gunicorn.glogging import Logger

from simrenew.kit.logs import JsonLines, log_format
from simrenew.kit.redaction import RedactSecrets, redact


class GunicornLogger(Logger):
    """gunicorn's logger (`--logger-class`), with tokens redacted from its access and error logs.

    The filter sits on the loggers, not their handlers, so it also covers handlers that gunicorn's
    `--log-config`, syslog or a configuration reload put in place."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.json = log_format() == "json"
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactSecrets) for existing in log.filters):
                log.addFilter(RedactSecrets())
            if self.json:
                for handler in log.handlers:
                    if getattr(handler, "_gunicorn", False):
                        handler.setFormatter(JsonLines())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """In JSON, the access line's parts as fields (redacted by the formatter like any field);
        the message is the usual line, redacted by the filter."""
        if not self.json:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        fields = {
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            # A query string alone is redacted as what follows a "?" (its parameters are found by it).
            "query": redact(f"?{atoms['q']}")[1:] if atoms["q"] not in {"", "-"} else "",
            "status": _number(atoms["s"]),
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "referer": atoms["f"],
            "user_agent": atoms["a"],
            # The id RequestIdMiddleware gave the request, echoed on its response.
            "request_id": atoms["{x-request-id}o"] if atoms["{x-request-id}o"] != "-" else None,
        }
        try:
            self.access_log.info(self.cfg.access_log_format, atoms, extra=fields)
        except Exception:
            self.error(traceback.format_exc())


def _number(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
