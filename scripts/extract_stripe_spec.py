"""Cut the part of Stripe's published OpenAPI document that simrenew calls, for the local Stripe server.

The whole document (github.com/stripe/openapi, openapi/spec3.json, MIT licence) is several
megabytes; the tests need only the requests of the endpoints the Stripe adapter and our pages'
Stripe.js calls use: each operation's path and query parameters and its form body's schema
(Stripe's request schemas are inline and closed: `additionalProperties: false`). The cut is kept
in tests/payments/specs/ beside Stripe's licence; run this again with a newer spec3.json to
refresh it:

    python scripts/extract_stripe_spec.py PATH/TO/spec3.json SOURCE_COMMIT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "tests" / "payments" / "specs" / "stripe-openapi-requests.json"

OPERATIONS: dict[str, tuple[str, ...]] = {
    "/v1/customers": ("post",),
    "/v1/customers/{customer}": ("get",),
    "/v1/setup_intents": ("post",),
    "/v1/setup_intents/{intent}": ("get",),
    "/v1/setup_intents/{intent}/confirm": ("post",),
    "/v1/payment_methods": ("post",),
    "/v1/payment_methods/{payment_method}": ("get",),
    "/v1/payment_methods/{payment_method}/detach": ("post",),
    "/v1/payment_intents": ("post",),
    "/v1/payment_intents/search": ("get",),
    "/v1/payment_intents/{intent}": ("get",),
    "/v1/payment_intents/{intent}/confirm": ("post",),
    "/v1/payment_intents/{intent}/cancel": ("post",),
    "/v1/refunds": ("post",),
    "/v1/disputes/{dispute}": ("get", "post"),
}


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        # A schema's `description` is prose (a string); a property named description is a schema.
        return {
            key: _without_descriptions(value)
            for key, value in node.items()
            if not (key == "description" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_without_descriptions(value) for value in node]
    return node


def extract(spec: dict[str, Any], source_commit: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        for method in methods:
            operation = spec["paths"][path][method]
            body = operation.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
            paths.setdefault(path, {})[method] = _without_descriptions(
                {
                    "operationId": operation["operationId"],
                    "parameters": operation.get("parameters", []),
                    "form": body.get("schema"),
                }
            )
    return {
        "source": "https://github.com/stripe/openapi openapi/spec3.json",
        "source_commit": source_commit,
        "api_version": spec["info"]["version"],
        "licence": "MIT, Stripe, Inc.: LICENSE-stripe-openapi.txt",
        "paths": paths,
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    OUT.write_text(json.dumps(extract(spec, sys.argv[2]), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")


if __name__ == "__main__":
    main()
