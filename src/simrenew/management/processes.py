"""Run several processes as one: `simrenew serve --with-worker` (what `make run` uses) starts the
web server and the worker side by side, so that one command shows the whole product.

One Ctrl-C (SIGINT) or SIGTERM stops them all; when one of them ends on its own, the others are
stopped too and the command says which ended and how: a demo whose worker died would otherwise
go on serving pages while no email, reminder or renewal happens. No child outlives the command,
even when it is killed with SIGKILL (Linux: each child asks the kernel for SIGTERM when its
parent dies).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

# How long the children get to finish what they are doing (a charge in flight, a request)
# before they are killed: above gunicorn's --graceful-timeout.
GRACE_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True, slots=True)
class Program:
    name: str  # how messages call it: "server", "worker"
    argv: Sequence[str]


def _die_with_parent() -> None:
    """Run in the child before exec: SIGTERM when the parent dies, however it died."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def run_together(
    programs: Sequence[Program], *, env: Mapping[str, str], say: Callable[[str], None], poll_seconds: float = 0.2
) -> int:
    """Start every program, wait until a stop signal comes or one of them ends, stop the rest.

    The exit status: 0 when stopped by a signal, else the status of the program that ended
    first (1 if it ended with 0: it was not supposed to end)."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    running: list[tuple[Program, subprocess.Popen[bytes]]] = []
    status = 0
    try:
        for program in programs:
            process = subprocess.Popen(
                list(program.argv),
                env=dict(env),
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            running.append((program, process))
        while not stop.wait(poll_seconds):
            ended = next(((p, proc) for p, proc in running if proc.poll() is not None), None)
            if ended is not None:
                program, process = ended
                if received:  # a Ctrl-C reached the child first: the stop was asked for
                    break
                others = ", ".join(p.name for p, _ in running if p is not program) or "nothing else"
                say(f"The {program.name} stopped (exit status {process.returncode}); stopping {others} too.")
                status = process.returncode or 1
                break
    finally:
        _stop_all(running, say)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def _stop_all(running: list[tuple[Program, subprocess.Popen[bytes]]], say: Callable[[str], None]) -> None:
    for _program, process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # both the server and the worker finish their work first
    for program, process in running:
        try:
            process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            say(f"The {program.name} did not stop within {GRACE_SECONDS:.0f} s; killing it.")
            process.kill()
            process.wait()
