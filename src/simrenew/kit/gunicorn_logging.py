"""gunicorn's logger for `simrenew serve` (`--logger-class`): its access and error logs redacted."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from simrenew.kit.redaction import RedactSecrets


class GunicornLogger(Logger):
    """gunicorn's logger (`--logger-class`), with tokens redacted from its access and error logs.

    The filter sits on the loggers, not their handlers, so it also covers handlers that gunicorn's
    `--log-config`, syslog or a configuration reload put in place."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactSecrets) for existing in log.filters):
                log.addFilter(RedactSecrets())
