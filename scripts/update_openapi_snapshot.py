"""Rewrite the committed OpenAPI snapshot (src/simrenew/api/openapi.json) from the code.

    .venv/bin/python scripts/update_openapi_snapshot.py

Run it after changing a route or a schema of the partner API, read the diff (it is the change
partners see), and commit both. tests/api/test_api_openapi.py fails while the two differ.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(REPO / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
    # The document does not depend on the mode; sandbox mode only spares the need for a secret key.
    os.environ.setdefault("SIMRENEW_SANDBOX", "1")
    import django

    django.setup()
    from simrenew.api.openapi import SNAPSHOT_PATH, document_text

    text = document_text()
    old = SNAPSHOT_PATH.read_text(encoding="utf-8") if SNAPSHOT_PATH.exists() else ""
    if text == old:
        print(f"{SNAPSHOT_PATH.relative_to(REPO)} is up to date.")
        return 0
    SNAPSHOT_PATH.write_text(text, encoding="utf-8")
    print(f"Wrote {SNAPSHOT_PATH.relative_to(REPO)}; review the diff and commit it.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
