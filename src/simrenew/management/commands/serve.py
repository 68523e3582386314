"""`simrenew serve [--port P] [--with-worker]`: the production server (gunicorn), never Django's
development server; with `--with-worker` (what `make run` uses) the worker runs beside it and one
Ctrl-C stops both (management.processes)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simrenew.deploy_checks import preflight
from simrenew.kit.metrics import MULTIPROCESS_DIR_VARIABLE
from simrenew.management.processes import Program, run_together


class Command(BaseCommand):
    help = "Serve simrenew with gunicorn (static files through WhiteNoise)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("SIMRENEW_PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("SIMRENEW_HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("SIMRENEW_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("SIMRENEW_WEB_THREADS", "4")))
        parser.add_argument(
            "--with-worker",
            action="store_true",
            help="Also run `simrenew worker` beside the server (emails, reminders, renewals); Ctrl-C stops both.",
        )

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
            # Hooks: a web process that ends is marked so in the metrics' shared folder.
            "--config",
            "python:simrenew.kit.gunicorn_hooks",
        ]
        env = serving_environment(host=options["host"], port=options["port"])
        env[MULTIPROCESS_DIR_VARIABLE] = fresh_metrics_folder(env.get(MULTIPROCESS_DIR_VARIABLE), port=options["port"])
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']}/ (Ctrl-C stops)")
        if env.get("SIMRENEW_PUBLIC_URL") != os.environ.get("SIMRENEW_PUBLIC_URL"):
            self.stdout.write(f"Links in emails lead to {env['SIMRENEW_PUBLIC_URL']}/")
        if not options["with_worker"]:
            self.stdout.flush()
            os.execve(executable, argv, env)  # noqa: S606 - replaces this process with the server
        self.stdout.write("The worker runs beside it: sign-up emails, reminders and auto-renewals happen.")
        self.stdout.flush()
        worker = [sys.executable, "-m", "simrenew.manage", "worker"]
        status = run_together(
            [Program("server", argv), Program("worker", worker)], env=env, say=lambda line: self.stderr.write(line)
        )
        if status:
            raise SystemExit(status)


def fresh_metrics_folder(configured: str | None, *, port: int) -> str:
    """The folder where the web processes (and a worker started beside them) keep their metrics
    (kit.metrics): PROMETHEUS_MULTIPROC_DIR if set, else one per port in the temporary folder.
    Emptied at every start, as prometheus_client requires: figures of an earlier run would be
    added to this one's."""
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / f"simrenew-metrics-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.db"):
        leftover.unlink(missing_ok=True)
    return str(folder)


def serving_environment(*, host: str, port: int) -> dict[str, str]:
    """The server's (and worker's) environment: in the sandbox, without a SIMRENEW_PUBLIC_URL,
    links in emails and QR codes lead to the address this server really listens on, not to
    the default port 8000 another program may hold."""
    env = dict(os.environ)
    if settings.SIMRENEW_SANDBOX and not env.get("SIMRENEW_PUBLIC_URL"):
        reachable = "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host  # noqa: S104 - compared, not bound
        env["SIMRENEW_PUBLIC_URL"] = f"http://{f'[{reachable}]' if ':' in reachable else reachable}:{port}"
    return env
