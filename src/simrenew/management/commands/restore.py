"""`simrenew restore PATH [--force]`: put a backup made by `simrenew backup` into the database
SIMRENEW_DATABASE_URL names, after proving the backup intact, then prove every table came back
(the rules: simrenew.kit.backups). Stop the server and the worker first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from simrenew.kit.backups import BackupFailed, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup folder into the database (an empty one, unless --force). The manifest and "
        "the dump's checksum are checked first, every table's row count after."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The backup folder `simrenew backup` wrote.")
        parser.add_argument(
            "--force", action="store_true", help="Replace what the database holds (refused without it)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            restored = restore_backup(options["path"], force=options["force"])
        except BackupFailed as failed:
            raise CommandError(failed.detail) from failed
        manifest = restored.manifest
        self.stdout.write(
            f"restored {options['path']} (simrenew {manifest.simrenew_version}, made {manifest.created_at}) "
            f"into {restored.target}: {len(restored.tables)} tables, {sum(restored.tables.values())} rows; "
            "every table's row count matches the backup's."
        )
        self.stdout.write("Run `simrenew migrate` if this simrenew is newer than the backup.")
