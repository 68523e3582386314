"""`python -m simrenew.kit.probe /healthz|/readyz [PORT]`: the health check of the container image
and of the compose file, run beside the server it asks.

Not Django, and not curl: the image has no curl, and a health check runs every few seconds, so it
must not load the whole application to ask one URL. The server answers only to the host names of
its public URL and SIMRENEW_ALLOWED_HOSTS, so the probe sends the public URL's host; over plain
HTTP only /healthz and /readyz answer outside the sandbox (the redirect to https spares them).
Exit 0 on a 200, else 1, with the answer's body (what /readyz found missing) for `docker inspect`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0


def probe(path: str, *, port: int, public_url: str) -> tuple[bool, str]:
    """Whether the server on this machine's `port` answers `path` with 200, and what it said."""
    if not path.startswith("/") or "//" in path:
        raise ValueError(f"{path!r} is not a path on this server (e.g. /healthz)")
    host = urlsplit(public_url).hostname or "127.0.0.1"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": f"[{host}]" if ":" in host else host}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return answer.status == 200, answer.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as refused:
        return False, f"{refused.code} {refused.read(2000).decode('utf-8', 'replace')}"
    except OSError as exc:  # refused, timed out, reset: not serving
        return False, f"no answer: {exc}"


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or (len(argv) == 2 and not argv[1].isdigit()):
        sys.stderr.write("usage: python -m simrenew.kit.probe /healthz|/readyz [PORT]\n")
        return 2
    port = int(argv[1] if len(argv) == 2 else os.environ.get("SIMRENEW_PORT", "8000"))
    try:
        ok, said = probe(argv[0], port=port, public_url=os.environ.get("SIMRENEW_PUBLIC_URL", ""))
    except ValueError as bad:
        sys.stderr.write(f"{bad}\n")
        return 2
    sys.stdout.write(said.strip() + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
