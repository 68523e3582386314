"""Rotating a secret: for 24 hours every request carries two signatures (new and old
secret), so a receiver holding either one verifies; afterwards only the new one."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from simrenew.webhooks.services import create_endpoint, rotate_secret
from tests.factories import make_subscription, renew
from tests.notifications.helpers import run_worker


def test_both_secrets_verify_for_a_day_after_a_rotation_then_only_the_new_one(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    old_secret = endpoint.secret
    subscription = make_subscription()

    rotate_secret(endpoint)
    renew(subscription)
    run_worker()
    clock.advance(hours=24)
    renew(subscription)
    run_worker()

    during, after = receiver.requests
    assert endpoint.secret != old_secret and endpoint.previous_secret == old_secret
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(during.body, during.headers)
    Webhook(endpoint.secret).verify(during.body, during.headers)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(endpoint.secret).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(after.body, after.headers)
