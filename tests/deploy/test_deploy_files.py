"""The deployment files run only commands the built wheel has, keep every secret in a file, and have
the shape README's "Running in production" promises.

No Docker engine runs on these machines or on CI, so the image is never built here. Instead: the
project's wheel is built as the Dockerfile builds it, every command that the Dockerfile, the compose
file and the systemd units run is looked up in it and its arguments parsed by that command's own
parser, the Dockerfile's static-files step is run as written, the compose file is read with PyYAML,
the systemd units are verified by `systemd-analyze verify` and nginx's file by `nginx -t`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import trustme
import yaml
from django.core.management import get_commands, load_command_class

from simrenew.kit.config import SECRET_VARIABLES

pytestmark = pytest.mark.database_independent

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("simrenew-migrate.service", "simrenew-web.service", "simrenew-worker@.service")
# Values that are secrets whatever variable holds them: Stripe's secret keys and signing secrets,
# PayPal/Twilio-style tokens are caught by their names instead; a URL with a password in it.
SECRET_LOOKING = re.compile(r"\b(sk|rk)_(live|test)_\w+|\bwhsec_\w+|://[^/\s:@]+:[^/\s@]+@")


# --- reading the files ------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def dockerfile_stages(text: str) -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuation lines joined, comments out)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            image, _, name = args.partition(" AS ")
            stages.append(Stage(image=image.strip(), name=name.strip()))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    """An instruction's JSON (exec) form; the shell form would put `sh -c` in front of the command."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not the exec form: {args}"
    return value


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}} (a key may repeat, as ExecStart does)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}: {line!r} is outside a section or not KEY=VALUE"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


SEPARATORS = {"&&", "||", ";", "|"}


def simrenew_calls(shell: str) -> list[list[str]]:
    """Each `simrenew …` command in a piece of shell (`A=1 simrenew x && …` too, not `chown simrenew`),
    as its arguments after `simrenew`."""
    tokens = shlex.split(shell)
    calls: list[list[str]] = []
    command_starts = True
    for at, token in enumerate(tokens):
        if token in SEPARATORS:
            command_starts = True
        elif command_starts and re.fullmatch(r"[A-Za-z_]\w*=.*", token, re.S):
            continue  # an assignment before the command
        elif command_starts:
            command_starts = False
            if token == "simrenew" or token.endswith("/simrenew"):
                args = []
                for arg in tokens[at + 1 :]:
                    if arg in SEPARATORS:
                        break
                    args.append(arg)
                calls.append(args)
    return calls


@pytest.fixture(scope="module")
def dockerfile() -> list[Stage]:
    return dockerfile_stages((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def simrenew_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the simrenew image (built from this repository)."""
    return {name: s for name, s in compose["services"].items() if "build" in s}


@pytest.fixture(scope="module")
def units() -> dict[str, dict[str, dict[str, list[str]]]]:
    return {name: unit_file(DEPLOY / "systemd" / name) for name in UNITS}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The names in the project's wheel, built as the Dockerfile's build stage does, from a copy of
    what .dockerignore lets in (pyproject.toml and src/), so nothing else of the checkout leaks in."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [path] = folder.glob("simrenew-*.whl")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        names.add("entry_points.txt:" + archive.read(entry_points).decode())
    return names


def every_simrenew_command(dockerfile: list[Stage], compose: dict[str, Any], units: dict[str, Any]) -> list[tuple]:
    """(where, arguments after `simrenew`) for every command the deployment files run."""
    final = dockerfile[-1]
    found: list[tuple[str, list[str]]] = []
    [entrypoint], [cmd] = final.all("ENTRYPOINT"), final.all("CMD")
    assert exec_form(entrypoint) == ["simrenew"]
    found.append(("Dockerfile CMD", exec_form(cmd)))
    for run in final.all("RUN"):
        found += [("Dockerfile RUN", call) for call in simrenew_calls(run)]
    for name, service in simrenew_services(compose).items():
        found.append((f"compose {name}", list(service["command"])))
    for name, unit in units.items():
        for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
            for line in unit["Service"].get(key, []):
                # As systemd runs the template's first instance (simrenew-worker@1).
                found += [(f"{name} {key}", call) for call in simrenew_calls(line.replace("%i", "1"))]
    return found


def every_probe(dockerfile: list[Stage], compose: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(where, argv) of every health check that runs `python -m …`."""
    probes = []
    for check in dockerfile[-1].all("HEALTHCHECK"):
        _options, _, command = check.partition("CMD ")
        probes.append(("Dockerfile HEALTHCHECK", exec_form(command)))
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        if test and test[1:3] == ["python", "-m"]:
            probes.append((f"compose {name}", test[1:]))
    return probes


# --- the wheel has what the image runs ------------------------------------------------------------


def test_the_wheel_carries_every_file_the_app_reads_beside_its_code(wheel: set[str]):
    package = ROOT / "src" / "simrenew"
    shipped = [
        path.relative_to(ROOT / "src").as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    missing = sorted(name for name in shipped if name not in wheel)

    assert not missing, f"pyproject.toml's package-data leaves these out of the wheel: {missing}"
    assert any(n.startswith("simrenew/portal/templates/portal/") and n.endswith(".html") for n in wheel)
    assert any(n.startswith("simrenew/templates/admin/") for n in wheel)
    assert any(n.startswith("simrenew/portal/static/") and n.endswith(".css") for n in wheel)
    assert {"simrenew/locale/en/LC_MESSAGES/django.mo", "simrenew/locale/zh_Hans/LC_MESSAGES/django.mo"} <= wheel
    assert "simrenew/api/openapi.json" in wheel


def test_the_wheel_installs_the_simrenew_command(wheel: set[str]):
    entry_points = next(n for n in wheel if n.startswith("entry_points.txt:")).removeprefix("entry_points.txt:")

    assert re.search(r"^\[console_scripts\]\s*^simrenew = simrenew\.manage:main$", entry_points, re.M), entry_points


def test_every_command_the_deployment_files_run_is_in_the_wheel_and_takes_those_arguments(
    wheel: set[str], dockerfile: list[Stage], compose: dict[str, Any], units: dict[str, Any]
):
    calls = every_simrenew_command(dockerfile, compose, units)
    commands = get_commands()  # the installed project's commands and Django's, by name

    used = {args[0] for _, args in calls}
    assert {"serve", "worker", "migrate", "collectstatic"} <= used, used
    for where, args in calls:
        name = args[0]
        assert name in commands, f"{where}: `simrenew {name}` is no command"
        if commands[name] == "simrenew":  # ours: it must ship in the wheel, not only in this checkout
            assert f"simrenew/management/commands/{name}.py" in wheel, f"{where}: {name}.py is not in the wheel"
        parser = load_command_class(commands[name], name).create_parser("simrenew", name)
        parser.parse_args(args[1:])  # an unknown or misspelt option raises CommandError: the test fails


def test_the_health_checks_run_a_module_the_wheel_has_on_a_path_the_app_serves(
    wheel: set[str], dockerfile: list[Stage], compose: dict[str, Any]
):
    probes = every_probe(dockerfile, compose)

    assert [where for where, _ in probes] == ["Dockerfile HEALTHCHECK", "compose web"]
    for where, argv in probes:
        python, flag, module, path = argv
        assert (python, flag) == ("python", "-m")
        assert f"{module.replace('.', '/')}.py" in wheel, f"{where}: {module} is not in the wheel"
        assert path in {"/healthz", "/readyz"}, where
    assert probes[0][1][-1] == "/healthz" and probes[1][1][-1] == "/readyz"


def test_the_command_check_deploy_names_is_a_real_option():
    parser = load_command_class("django.core", "check").create_parser("simrenew", "check")

    assert parser.parse_args(["--deploy"]).deploy is True


# --- Dockerfile ---------------------------------------------------------------------------------


def test_the_image_builds_the_wheel_in_one_stage_and_installs_only_wheels_in_a_slim_one(dockerfile: list[Stage]):
    build, final = dockerfile[0], dockerfile[-1]

    assert len(dockerfile) == 2 and build.name == "build"
    assert any("pip wheel" in run for run in build.all("RUN"))
    assert final.image == "python:3.11-slim"
    assert not final.all("COPY") and not final.all("ADD"), "the runtime stage takes nothing but the wheels"
    [install] = [run for run in final.all("RUN") if "pip install" in run]
    assert "--mount=type=bind,from=build,source=/wheels" in install
    assert "--no-index" in install and '"simrenew[redis]"' in install


def test_the_image_runs_as_an_unprivileged_user_with_simrenew_as_its_entrypoint(dockerfile: list[Stage]):
    final = dockerfile[-1]
    users = final.all("USER")

    assert users, "no USER: the server would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert exec_form(final.all("ENTRYPOINT")[-1]) == ["simrenew"]
    cmd = exec_form(final.all("CMD")[-1])
    assert cmd[0] == "serve" and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert "/healthz" in final.all("HEALTHCHECK")[-1]
    # Instructions after USER run as that user; static files are collected before, as root.
    keywords = [i.keyword for i in final.instructions]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_the_redis_client_the_shared_cache_needs_is_an_extra_the_image_installs(dockerfile: list[Stage]):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    [pin] = project["optional-dependencies"]["redis"]
    assert re.fullmatch(r"redis==[\d.]+", pin)
    assert any('".[redis]"' in run for run in dockerfile[0].all("RUN"))
    assert any('"simrenew[redis]"' in run for run in dockerfile[-1].all("RUN"))


def test_the_dockerfiles_static_files_step_collects_them_and_leaves_no_key_in_the_image(
    dockerfile: list[Stage], tmp_path: Path
):
    [step] = [run for run in dockerfile[-1].all("RUN") if "collectstatic" in run]
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMRENEW_", "DJANGO_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["SIMRENEW_VAR_DIR"] = str(var)  # the image's ENV says /var/lib/simrenew

    ran = subprocess.run(["bash", "-c", step], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert ran.returncode == 0, ran.stderr
    assert (var / "static" / "admin" / "css" / "base.css").is_file()
    assert (var / "static" / "admin" / "css" / "base.css.gz").is_file()  # compressed for WhiteNoise
    assert sorted(p.name for p in var.iterdir()) == ["static"], "a key or a database was made in the image"


def test_the_build_context_holds_only_what_the_dockerfile_copies(dockerfile: list[Stage]):
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    let_in = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {shlex.split(copy)[0].rstrip("/") for copy in dockerfile[0].all("COPY")}

    assert lines[0] == "*", "everything is left out first (.venv, var/ with a sandbox's keys, .git)"
    assert let_in == copied


# --- compose ------------------------------------------------------------------------------------


def test_compose_runs_web_two_workers_a_one_shot_migrate_postgresql_and_redis(compose: dict[str, Any]):
    services = compose["services"]

    assert set(services) == {"migrate", "web", "worker", "db", "redis", "prometheus"}
    assert set(simrenew_services(compose)) == {"migrate", "web", "worker"}
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"][0] == "migrate" and services["migrate"]["restart"] == "no"
    assert services["web"]["command"][0] == "serve" and services["worker"]["command"][0] == "worker"
    # Each worker serves its own figures where deploy/prometheus/prometheus.yml looks for them.
    assert services["worker"]["command"][1:] == ["--metrics-port", "9101", "--metrics-host", "0.0.0.0"]
    assert services["prometheus"]["profiles"] == ["monitoring"]  # started only when asked for
    assert re.fullmatch(r"postgres:15(\.\d+)?(-\w+)?", services["db"]["image"])
    assert services["redis"]["image"].startswith("redis:")


def test_web_and_workers_start_only_after_migrate_completed_and_migrate_after_the_database(compose: dict[str, Any]):
    services = compose["services"]

    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_compose_health_checks_ask_readyz_pg_isready_and_redis_ping(compose: dict[str, Any]):
    services = compose["services"]

    assert services["web"]["healthcheck"]["test"][-1] == "/readyz"
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # The image's /healthz check would call a worker that serves no HTTP unhealthy forever.
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_compose_gives_every_secret_as_a_file_and_writes_none_inline(compose: dict[str, Any]):
    top_level = compose["secrets"]
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        # A secret is mounted by its name, or as {source, target} (under another file name).
        mounted = {entry if isinstance(entry, str) else entry["source"] for entry in service.get("secrets", [])}
        for key, value in environment.items():
            if key.endswith("_FILE"):
                secret = PurePosixPath(value)
                assert secret.parent == PurePosixPath("/run/secrets"), f"{name}: {key}={value}"
                assert secret.name in mounted, f"{name}: {key} names {secret.name}, not mounted in the service"
                continue
            assert key not in SECRET_VARIABLES, f"{name}: {key} is written inline; use {key}_FILE"
            assert not re.search(r"PASSWORD|SECRET|TOKEN", key), f"{name}: {key} looks like a secret written inline"
            assert not SECRET_LOOKING.search(str(value)), f"{name}: {key}'s value looks like a secret"
        for secret in mounted:
            assert set(top_level[secret]) == {"file"}, f"{secret} is not read from a file"
            assert top_level[secret]["file"].startswith("./secrets/")
    app = simrenew_services(compose)["web"]["environment"]
    # Every secret the live checks require is handed over (live mode would refuse to start without).
    for required in ("SIMRENEW_SECRET_KEY", "SIMRENEW_ENCRYPTION_KEYS", "SIMRENEW_DATABASE_URL", "SIMRENEW_CACHE_URL"):
        assert f"{required}_FILE" in app, required
    assert app["SIMRENEW_BEHIND_TLS_PROXY"] == "1"


# --- systemd ------------------------------------------------------------------------------------


def test_the_units_run_serve_worker_and_a_oneshot_migrate_before_them(units: dict[str, Any]):
    migrate, web, worker = (units[name]["Service"] for name in UNITS)

    assert migrate["Type"] == ["oneshot"]
    assert [shlex.split(line)[1:] for line in migrate["ExecStart"]] == [
        ["collectstatic", "--no-input", "-v0"],
        ["migrate", "--no-input"],
    ]
    assert shlex.split(web["ExecStart"][0])[1] == "serve"
    assert shlex.split(worker["ExecStart"][0])[1:] == ["worker", "--metrics-port", "910%i", "--metrics-host", "0.0.0.0"]
    for name in ("simrenew-web.service", "simrenew-worker@.service"):
        unit = units[name]["Unit"]
        assert "simrenew-migrate.service" in " ".join(unit["Requires"]), name
        assert "simrenew-migrate.service" in " ".join(unit["After"]).split(), name


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_runs_hardened_as_simrenew_with_its_secrets_as_credentials(units: dict[str, Any], name: str):
    service = units[name]["Service"]

    assert service["User"] == ["simrenew"]
    assert service["NoNewPrivileges"] == ["yes"] and service["PrivateTmp"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/var/lib/simrenew"]
    assert service["EnvironmentFile"] == ["/etc/simrenew/simrenew.env"]
    credentials = {line.split(":")[0] for line in service["LoadCredential"]}
    for line in service["Environment"]:
        key, _, value = line.partition("=")
        assert key not in SECRET_VARIABLES, f"{name}: {key} written in the unit; use {key}_FILE"
        if key.endswith("_FILE"):
            assert key[: -len("_FILE")] in SECRET_VARIABLES, key
            assert value.startswith("%d/") and value[3:] in credentials, f"{name}: {line} has no LoadCredential"


def test_the_environment_file_holds_no_secret():
    for line in (DEPLOY / "systemd" / "simrenew.env").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key not in SECRET_VARIABLES and not re.search(r"PASSWORD|SECRET|TOKEN", key), line
        assert not SECRET_LOOKING.search(value), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian's systemd)")
def test_systemd_accepts_the_units(tmp_path: Path):
    simrenew = Path(sys.executable).with_name("simrenew")
    for name in UNITS:  # verify checks that ExecStart's program exists: this machine's simrenew
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/simrenew/venv/bin/simrenew", str(simrenew))
        (tmp_path / name).write_text(text)

    verified = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert verified.returncode == 0, verified.stderr
    assert "simrenew" not in verified.stderr, verified.stderr  # warnings about our units count too


# --- nginx --------------------------------------------------------------------------------------


def readme_nginx_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    [block] = re.findall(r"```nginx\n(.*?)```", readme, re.S)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_nginx_file_has_every_line_the_readme_shows():
    conf = {
        " ".join(line.split("#")[0].split())
        for line in (DEPLOY / "nginx" / "simrenew.conf").read_text().splitlines()
        if line.split("#")[0].strip()
    }
    shown = readme_nginx_lines()

    assert len(shown) >= 5
    missing = [line for line in shown if " ".join(line.split()) not in conf]
    assert not missing, f"README.md shows nginx lines deploy/nginx/simrenew.conf does not have: {missing}"


def test_the_public_site_drops_the_certificate_header_and_the_es2_path_and_believes_only_nginx():
    conf = (DEPLOY / "nginx" / "simrenew.conf").read_text()
    public, es2 = conf.split("# the address the SM-DP+ calls")

    assert 'proxy_set_header X-SSL-Client-S-DN "";' in public
    assert "location /gsma/ { return 403; }" in public
    assert "proxy_set_header X-Forwarded-Proto https;" in public
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in public
    assert "ssl_verify_client on;" in es2 and "proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;" in es2
    assert "location / { return 404; }" in es2


@pytest.fixture
def nginx_test_files(tmp_path: Path) -> Iterator[Path]:
    """deploy/nginx/simrenew.conf with its certificate paths pointed at certificates made here."""
    ca = trustme.CA()
    server = ca.issue_cert("esim.example.com", "es2.example.net")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    conf = (DEPLOY / "nginx" / "simrenew.conf").read_text()
    conf = conf.replace("/etc/simrenew/smdp-ca.pem", str(tmp_path / "ca.pem"))
    conf = re.sub(r"/etc/simrenew/\S+\.pem", str(tmp_path / "server.pem"), conf)
    conf = re.sub(r"/etc/simrenew/\S+\.key", str(tmp_path / "server.key"), conf)
    (tmp_path / "simrenew.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n  access_log off;\n  include {tmp_path}/simrenew.conf;\n}}\n"
    )
    yield tmp_path


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (make test installs Debian's nginx-light)")
def test_nginx_accepts_the_file(nginx_test_files: Path):
    folder = nginx_test_files

    tested = subprocess.run(
        ["nginx", "-t", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert tested.returncode == 0, tested.stderr
    assert "[warn]" not in tested.stderr, tested.stderr
