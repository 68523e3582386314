"""`simrenew serve [--port P]`: the production server (gunicorn), never Django's development server."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from simrenew.deploy_checks import preflight


class Command(BaseCommand):
    help = "Serve simrenew with gunicorn (static files through WhiteNoise)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("SIMRENEW_PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("SIMRENEW_HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("SIMRENEW_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("SIMRENEW_WEB_THREADS", "4")))

    def handle(self, *args: Any, **options: Any) -> None:
        preflight(self.stdout)  # a live server with the demo's logins open does not start
        gunicorn = Path(sys.executable).with_name("gunicorn")
        executable = str(gunicorn) if gunicorn.exists() else shutil.which("gunicorn")
        if executable is None:
            raise CommandError("gunicorn is not installed; run `make install`.")
        argv = [
            executable,
            "simrenew.wsgi:application",
            "--bind",
            f"{options['host']}:{options['port']}",
            "--workers",
            str(options["workers"]),
            "--threads",
            str(options["threads"]),
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--access-logfile",
            "-",
            # Tokens in links (password reset, QR codes, connection checks) never reach the logs.
            "--logger-class",
            "simrenew.kit.gunicorn_logging.GunicornLogger",
            "--graceful-timeout",
            "20",
        ]
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']}/ (Ctrl-C stops)")
        self.stdout.flush()
        os.execv(executable, argv)  # noqa: S606 - replaces this process with the server
