"""A secret comes from its variable or from the file NAME_FILE names (compose secrets under
/run/secrets/, systemd credentials), never from both, and a file that cannot be used stops the
process with what to fix, never with the secret in the message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from simrenew.kit.config import SECRET_VARIABLES, ConfigurationRefused, env_value, live_problems
from tests.management.test_deploy_checks import complete_live_env

SIMRENEW = str(Path(sys.executable).with_name("simrenew"))


def secret_file(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content)
    return path


def test_a_secret_is_read_from_its_variable():
    assert env_value("SIMRENEW_SECRET_KEY", {"SIMRENEW_SECRET_KEY": "from-the-variable"}) == "from-the-variable"


def test_a_secret_is_read_from_the_file_name_file_variable_names_without_the_trailing_newline(tmp_path: Path):
    path = secret_file(tmp_path, "secret_key", "  from-the-file\n")

    assert env_value("SIMRENEW_SECRET_KEY", {"SIMRENEW_SECRET_KEY_FILE": str(path)}) == "from-the-file"


def test_an_unset_secret_is_the_default_and_an_empty_variable_counts_as_unset():
    assert env_value("SIMRENEW_DATABASE_URL", {}, default="sqlite:///x") == "sqlite:///x"
    assert env_value("SIMRENEW_DATABASE_URL", {"SIMRENEW_DATABASE_URL": ""}, default="sqlite:///x") == "sqlite:///x"
    assert env_value("SIMRENEW_EMAIL_URL", {}) == ""


def test_the_variable_and_its_file_both_set_is_refused_whichever_would_win(tmp_path: Path):
    path = secret_file(tmp_path, "email_url", "smtp://mail.internal:25\n")

    with pytest.raises(ConfigurationRefused, match="SIMRENEW_EMAIL_URL and SIMRENEW_EMAIL_URL_FILE are both set"):
        env_value("SIMRENEW_EMAIL_URL", {"SIMRENEW_EMAIL_URL": "smtp://old:25", "SIMRENEW_EMAIL_URL_FILE": str(path)})


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda folder: folder / "missing", "cannot be read: No such file or directory"),
        (lambda folder: folder, "cannot be read: Is a directory"),
        (lambda folder: secret_file(folder, "blank", " \n"), "which is empty"),
        (lambda folder: folder / "binary", "cannot be read: UnicodeDecodeError"),
    ],
    ids=["missing", "a folder", "empty", "not text"],
)
def test_a_file_that_cannot_give_the_secret_is_refused_naming_the_file(tmp_path: Path, make, says: str):
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00secret")
    path = make(tmp_path)

    with pytest.raises(ConfigurationRefused, match=says) as refused:
        env_value("SIMRENEW_SECRET_KEY", {"SIMRENEW_SECRET_KEY_FILE": str(path)})

    assert f"SIMRENEW_SECRET_KEY_FILE names {path}" in str(refused.value)
    assert "secret" not in str(refused.value).replace("SECRET", "").replace(str(tmp_path), "")


def test_only_the_listed_secrets_can_come_from_files():
    with pytest.raises(ValueError, match="SIMRENEW_PUBLIC_URL is not in SECRET_VARIABLES"):
        env_value("SIMRENEW_PUBLIC_URL", {"SIMRENEW_PUBLIC_URL": "https://esim.example.com"})


def test_a_live_configuration_whose_secrets_are_all_files_has_no_problem(tmp_path: Path):
    env = complete_live_env(tmp_path)
    for name in SECRET_VARIABLES:
        if name in env:
            env[f"{name}_FILE"] = str(secret_file(tmp_path, name.lower(), env.pop(name) + "\n"))

    assert "SIMRENEW_SECRET_KEY" not in env and "SIMRENEW_SECRET_KEY_FILE" in env
    assert live_problems(env) == []


def test_live_mode_lists_an_unreadable_secret_file_with_the_other_problems_and_not_its_rules_on_top(tmp_path: Path):
    env = complete_live_env(tmp_path)
    del env["SIMRENEW_STRIPE_API_KEY"], env["SIMRENEW_ENCRYPTION_KEYS"]
    env["SIMRENEW_STRIPE_API_KEY_FILE"] = str(tmp_path / "nowhere")
    env["SIMRENEW_ENCRYPTION_KEYS_FILE"] = str(secret_file(tmp_path, "keys", Fernet.generate_key().decode()))
    env["SIMRENEW_PUBLIC_URL"] = "http://esim.example.com"

    problems = live_problems(env)

    assert len(problems) == 2, problems
    assert problems[0].startswith("SIMRENEW_PUBLIC_URL must be the https://")
    assert problems[1].startswith(f"SIMRENEW_STRIPE_API_KEY_FILE names {tmp_path / 'nowhere'}, which cannot be read")


def test_the_simrenew_command_starts_on_secrets_from_files_and_refuses_both_without_a_traceback(tmp_path: Path):
    live = complete_live_env(tmp_path)
    key = live.pop("SIMRENEW_SECRET_KEY")
    live["SIMRENEW_SECRET_KEY_FILE"] = str(secret_file(tmp_path, "secret_key", key + "\n"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SIMRENEW, "shell", "-c", "from django.conf import settings; print(len(settings.SECRET_KEY))"],
            env={**clean, "DJANGO_SETTINGS_MODULE": "simrenew.settings", **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    started = run(live)
    both = run({**live, "SIMRENEW_SECRET_KEY": key})

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1] == str(len(key))
    assert both.returncode == 1
    assert "SIMRENEW_SECRET_KEY and SIMRENEW_SECRET_KEY_FILE are both set" in both.stderr
    assert "Traceback" not in both.stderr and key not in both.stderr
