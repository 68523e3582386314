from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django import db
from django.core.management import call_command
from django.core.management.base import CommandError

from simrenew.esims.models import EsimProfile
from simrenew.management.commands.profiles import Command
from tests.esims.helpers import activation_code_for
from tests.factories import make_carrier
from tests.factories import valid_iccid as next_iccid

HEADER = "iccid,carrier,msisdn,activation_code"
BAD_ICCID = "8965880812100011145"  # the smartjac example with a wrong check digit


def _good_rows(count: int) -> list[str]:
    return [f"{i},att,+12125550100,{activation_code_for(i)}" for i in (next_iccid() for _ in range(count))]


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def att() -> None:
    make_carrier(code="att")


@pytest.mark.django_db
def test_import_prints_a_summary(tmp_path: Path, att: None) -> None:
    csv_file = _write(tmp_path / "profiles.csv", HEADER, *_good_rows(2))
    out = StringIO()

    call_command("profiles", "import", str(csv_file), stdout=out)

    assert out.getvalue() == "imported 2, unchanged 0, rejected 0\n"
    assert EsimProfile.objects.count() == 2


@pytest.mark.django_db
def test_rejected_rows_are_listed_and_the_good_ones_imported(tmp_path: Path, att: None) -> None:
    rows = _good_rows(2)
    csv_file = _write(
        tmp_path / "profiles.csv", HEADER, rows[0], f"{BAD_ICCID},att,+12125550100,1$A.EXAMPLE$B", rows[1]
    )
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("profiles", "import", str(csv_file), stdout=out)

    assert failed.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"line 3: {BAD_ICCID}: ")
    assert "Luhn" in lines[0]
    assert lines[1] == "imported 2, unchanged 0, rejected 1"
    assert EsimProfile.objects.count() == 2

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("profiles", "import", str(csv_file), stdout=out)
    assert out.getvalue().splitlines()[-1] == "imported 0, unchanged 2, rejected 1"


@pytest.mark.django_db
def test_a_wrong_header_imports_nothing(tmp_path: Path, att: None) -> None:
    csv_file = _write(tmp_path / "profiles.csv", "iccid,carrier,phone,activation_code", *_good_rows(1))

    with pytest.raises(CommandError) as failed:
        call_command("profiles", "import", str(csv_file), stdout=StringIO())

    assert failed.value.returncode == 2
    assert "The header must be iccid,carrier,msisdn,activation_code[,eid]" in str(failed.value)
    assert "Nothing was imported" in str(failed.value)
    assert EsimProfile.objects.count() == 0


def test_a_missing_file_is_a_friendly_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as failed:
        call_command("profiles", "import", str(tmp_path / "nope.csv"))

    assert failed.value.returncode == 2
    assert str(failed.value) == f"No such file: {tmp_path / 'nope.csv'}"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    csv_file = tmp_path / "latin1.csv"
    csv_file.write_bytes(b"iccid,carrier,msisdn,activation_code\n\xe9\n")

    with pytest.raises(CommandError) as failed:
        call_command("profiles", "import", str(csv_file))

    assert failed.value.returncode == 2
    assert "not UTF-8" in str(failed.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lines", "exit_code"),
    [
        pytest.param([HEADER, *_good_rows(1)], 0, id="all-good"),
        pytest.param([HEADER, *_good_rows(1), f"{BAD_ICCID},att,+12125550100,1$A.EXAMPLE$B"], 1, id="some-rejected"),
        pytest.param(["iccid;carrier;msisdn;activation_code"], 2, id="wrong-header"),
    ],
)
def test_exit_codes_from_the_command_line(
    tmp_path: Path,
    att: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    exit_code: int,
) -> None:
    # run_from_argv closes every connection when it ends, which would drop the test database.
    monkeypatch.setattr(db.connections, "close_all", lambda: None)
    csv_file = _write(tmp_path / "profiles.csv", *lines)

    try:
        Command().run_from_argv(["simrenew", "profiles", "import", str(csv_file)])
        code = 0
    except SystemExit as exited:
        code = int(exited.code or 0)

    assert code == exit_code
    if exit_code == 2:
        assert "CommandError:" in capsys.readouterr().err


def test_the_simrenew_program_exits_with_the_documented_codes(tmp_path: Path) -> None:
    """The real entry point, in its own process, against its own SQLite database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "simrenew.settings",
        "SIMRENEW_SANDBOX": "1",
        "SIMRENEW_DATABASE_URL": f"sqlite:///{tmp_path / 'simrenew.sqlite3'}",
        "SIMRENEW_VAR_DIR": str(tmp_path / "var"),
        "SIMRENEW_LOG_LEVEL": "WARNING",
    }

    def simrenew(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simrenew.manage", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert simrenew("migrate", "--no-input", "-v", "0").returncode == 0
    seeded = simrenew(
        "shell",
        "-c",
        "from simrenew.catalog.models import Carrier; Carrier.objects.create(code='att', name='AT&T')",
    )
    assert seeded.returncode == 0, seeded.stderr
    rows = _good_rows(2)

    all_good = simrenew("profiles", "import", str(_write(tmp_path / "good.csv", HEADER, rows[0])))
    some_bad = simrenew(
        "profiles",
        "import",
        str(
            _write(
                tmp_path / "mixed.csv",
                HEADER,
                rows[0],
                rows[1],
                f"{BAD_ICCID},att,+12125550100,1$A.EXAMPLE$B",
            )
        ),
    )
    bad_header = simrenew("profiles", "import", str(_write(tmp_path / "header.csv", "iccid,carrier")))
    missing = simrenew("profiles", "import", str(tmp_path / "missing.csv"))

    assert (all_good.returncode, all_good.stdout) == (0, "imported 1, unchanged 0, rejected 0\n")
    assert some_bad.returncode == 1
    assert some_bad.stdout.splitlines() == [
        f"line 4: {BAD_ICCID}: The ICCID's last digit does not match its Luhn check digit; look for a mistyped digit.",
        "imported 1, unchanged 1, rejected 1",
    ]
    assert bad_header.returncode == 2
    assert "The header must be" in bad_header.stderr
    assert missing.returncode == 2
    assert "No such file" in missing.stderr
