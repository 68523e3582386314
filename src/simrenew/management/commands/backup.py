"""`simrenew backup [--output PATH]`: a consistent backup of the database SIMRENEW_DATABASE_URL
names, safe while the server and the worker write (the rules: simrenew.kit.backups)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from simrenew.kit.backups import BackupFailed, write_backup


class Command(BaseCommand):
    help = (
        "Back up the database into a new folder: the dump (PostgreSQL: pg_dump's custom format; "
        "SQLite: a copy) and manifest.json. The folder's path is the last line printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            help="The backup folder to create (it must not exist; default: var/backups/simrenew-VENDOR-UTCTIME).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            folder, manifest = write_backup(options["output"])
        except BackupFailed as failed:
            raise CommandError(f"{failed.detail} No backup was written.") from failed
        self.stdout.write(
            f"backed up the {manifest.vendor} database: {len(manifest.tables)} tables, {manifest.rows} rows, "
            f"{manifest.dump_bytes} bytes (SHA-256 {manifest.dump_sha256}), at {manifest.created_at}"
        )
        self.stdout.write(str(folder))
