"""Answers kept for Idempotency-Key replays before signing secrets were withheld from them
(`idempotency.withhold_from_replay`) still hold a webhook endpoint's secret in plaintext, and a
replay of the old key would show it again. Rewrite those stored answers through the same
withholding function, so they read as a replay made today does. There is no way back: the
secrets are gone (the endpoints themselves keep theirs, encrypted)."""

import re
from typing import Any

from django.db import migrations

from simrenew.api.idempotency import withheld_body

# The routes that show a secret once (api.routers.webhook_endpoints: `create_webhook_endpoint`
# and `rotate_webhook_secret`), as `request.get_full_path()` stored them: the query string is
# ignored, and so is a prefix before /api/v1 (a deployment under a script name).
SECRET_PATH = re.compile(r"/api/v1/webhook-endpoints(?:/[0-9]+/rotate-secret)?$")
# What those routes withhold (`WITHHELD_ON_REPLAY` when this migration was written; kept here
# so that the migration does the same whatever the router says later).
WITHHELD = {
    "secret": None,
    "secret_withheld": (
        "The signing secret was shown only in the first answer to this Idempotency-Key and is not kept; "
        "if it was lost, rotate it (POST /api/v1/webhook-endpoints/{id}/rotate-secret)."
    ),
}


def shows_a_secret(method: str, path: str) -> bool:
    return method == "POST" and SECRET_PATH.search(path.split("?", 1)[0]) is not None


def withhold_stored_secrets(apps: Any, schema_editor: Any) -> None:
    IdempotencyRecord = apps.get_model("api", "IdempotencyRecord")
    answered = IdempotencyRecord.objects.filter(
        method="POST",
        path__contains="/webhook-endpoints",
        completed_at__isnull=False,
        response_status__lt=400,  # only a success shows a secret (and only successes are withheld)
    ).only("pk", "method", "path", "response_body")
    for record in answered.iterator():
        if not shows_a_secret(record.method, record.path) or record.response_body is None:
            continue
        stored = bytes(record.response_body)
        withheld = withheld_body(stored, WITHHELD)
        if withheld != stored:
            IdempotencyRecord.objects.filter(pk=record.pk).update(response_body=withheld)


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(withhold_stored_secrets, migrations.RunPython.noop, elidable=True),
    ]
