# syntax=docker/dockerfile:1
# simrenew's image: the project's wheel and its dependencies on python:3.11-slim, nothing else of the
# source tree, run as an unprivileged user. `simrenew` is the entrypoint: the command says what runs
# (`serve`, the default; `worker`; `migrate`). deploy/compose.yaml runs it; README, "Running in
# production", says how. tests/deploy checks this file's shape and that its commands are in the wheel.

# --- build: the wheel of the project and one of each dependency (the redis extra: the shared cache)
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels ".[redis]"

# --- runtime: installs only those wheels (no compiler, no source, no pip cache)
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SIMRENEW_VAR_DIR=/var/lib/simrenew \
    SIMRENEW_PORT=8000
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "simrenew[redis]"
# Static files are collected once, here, into /var/lib/simrenew/static (settings.STATIC_ROOT), where
# WhiteNoise serves them compressed; they stay root's, read-only to the server. Sandbox mode with
# throwaway keys given, so that no secret key or encryption key is made and kept in the image.
RUN SIMRENEW_SANDBOX=1 \
    SIMRENEW_SECRET_KEY="image-build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    SIMRENEW_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    SIMRENEW_DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    simrenew collectstatic --no-input -v0 \
    && rm -f /tmp/collectstatic.sqlite3
# A fixed numeric id, so that an orchestrator's "run as non-root" rule can verify it.
RUN groupadd --system --gid 10001 simrenew \
    && useradd --system --uid 10001 --gid simrenew --home-dir /var/lib/simrenew --no-create-home \
       --shell /usr/sbin/nologin simrenew \
    && chown simrenew:simrenew /var/lib/simrenew
WORKDIR /var/lib/simrenew
USER 10001:10001
EXPOSE 8000
# /healthz: the process answers and reaches its database. (compose's web service asks /readyz, and
# its worker and migrate services switch this off: they serve no HTTP.)
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "simrenew.kit.probe", "/healthz"]
ENTRYPOINT ["simrenew"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
