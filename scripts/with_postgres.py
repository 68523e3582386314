"""Run a command against a throwaway PostgreSQL 15 started from the machine's binaries.

    python scripts/with_postgres.py COMMAND [ARGS...]

Starts a private server on a free loopback port in a temporary folder, exports
SIMRENEW_DATABASE_URL for the command, and stops and removes the server after,
whatever the command's outcome. The command's exit code is returned.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PG_BIN = Path(os.environ.get("SIMRENEW_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(args: list[str]) -> list[str]:
    # The server refuses to run as root; run its tools as the `postgres` user then.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


# Durability off (a throwaway server); memory and WAL sized as on a small production server rather
# than PostgreSQL's defaults (128 MB of buffers, a checkpoint every 1 GB of WAL), which the
# 100,000-renewal benchmark outgrows.
THROWAWAY_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
    "-c shared_buffers=1GB -c max_wal_size=8GB"
)


def new_cluster(folder: Path) -> Path:
    """An empty PostgreSQL cluster in `folder` (made the `postgres` user's when run as root)."""
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]
    subprocess.run(as_postgres(initdb), check=True, stdout=subprocess.DEVNULL)
    return data


def start(folder: Path, port: int, settings: str = THROWAWAY_SETTINGS) -> None:
    """Start (or start again) the cluster in `folder` on 127.0.0.1:`port`; returns once it accepts connections."""
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 {settings}"
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-o", options, "-l", str(folder / "log"), "-w"]
    subprocess.run(as_postgres([*pg_ctl, "start"]), check=True, stdout=subprocess.DEVNULL)


def stop(folder: Path) -> None:
    """Stop the cluster in `folder` at once (open connections are cut), whatever state it is in."""
    subprocess.run(
        as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "-w", "stop"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def create_database(port: int, name: str) -> str:
    createdb = [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name]
    subprocess.run(as_postgres(createdb), check=True)
    return f"postgresql://postgres@127.0.0.1:{port}/{name}"


def main(command: list[str]) -> int:
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    if not (PG_BIN / "initdb").exists():
        print(f"PostgreSQL binaries not found in {PG_BIN}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="simrenew-pg-"))
    port = free_port()
    try:
        data = new_cluster(folder)
        start(folder, port)
        env = dict(os.environ, SIMRENEW_DATABASE_URL=create_database(port, "simrenew"))
        print(f"PostgreSQL 15 on 127.0.0.1:{port} (data in {data})", flush=True)
        return subprocess.call(command, env=env)
    finally:
        stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
