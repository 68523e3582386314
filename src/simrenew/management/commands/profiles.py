"""`simrenew profiles import FILE.csv` — add eSIM profiles to inventory.

Exit codes: 0 every row imported (or already present), 1 some rows rejected
(the good ones are imported), 2 the file cannot be read or its header is
wrong (nothing imported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from simrenew.esims.services import HEADER_SHAPE, ImportFileInvalid, import_profiles_csv
from simrenew.management.base import ActorCommand

EXIT_ROWS_REJECTED = 1
EXIT_FILE_UNUSABLE = 2


class Command(ActorCommand):
    help = "Manage the eSIM profile inventory."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        importer = actions.add_parser(
            "import",
            help=f"Import profiles from a CSV file with the header {HEADER_SHAPE}.",
            description=(
                f"Import eSIM profiles from a CSV file with the header {HEADER_SHAPE}. "
                "Rows already in inventory with the same data are left alone, so a file can be "
                "imported again safely. Exit code 0: all rows fine; 1: some rows rejected (the "
                "others imported); 2: file unreadable or header wrong (nothing imported)."
            ),
        )
        importer.add_argument("file", metavar="FILE.csv", help="CSV file to import (UTF-8).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self._import(Path(options["file"]))

    def _import(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}", returncode=EXIT_FILE_UNUSABLE) from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory, not a CSV file.", returncode=EXIT_FILE_UNUSABLE) from None
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path} is not UTF-8 text (byte {exc.start}); save the CSV as UTF-8 and try again.",
                returncode=EXIT_FILE_UNUSABLE,
            ) from None
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}", returncode=EXIT_FILE_UNUSABLE) from None

        try:
            with transaction.atomic():
                report = import_profiles_csv(text, file_name=str(path))
        except ImportFileInvalid as exc:
            raise CommandError(f"{path}: {exc.detail} Nothing was imported.", returncode=EXIT_FILE_UNUSABLE) from None

        for error in report.errors:
            self.stdout.write(f"line {error.line}: {error.iccid or '(no ICCID)'}: {error.reason}")
        self.stdout.write(f"imported {report.imported}, unchanged {report.unchanged}, rejected {report.rejected}")
        if report.errors:
            raise CommandError(
                f"{report.rejected} row(s) rejected; the other rows were imported. "
                "Fix the rejected rows and import the file again.",
                returncode=EXIT_ROWS_REJECTED,
            )
