"""Signing a message per the Standard Webhooks specification, with the `standardwebhooks`
package (no hand-written crypto): `webhook-id` (the message's, the same on every retry),
`webhook-timestamp` (seconds since the epoch, when this attempt is sent) and
`webhook-signature`: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under each secret that
signs now, separated by spaces (two during a rotation; a receiver accepts any one it knows).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from math import floor

from standardwebhooks import Webhook


def signature_headers(
    webhook_id: str, body: str, secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    """The three headers of one attempt sent at `at`."""
    # The package reads the timestamp as UTC whatever its zone: hand it UTC.
    moment = at.astimezone(UTC)
    signatures = " ".join(Webhook(secret).sign(webhook_id, moment, body) for secret in secrets)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(floor(moment.timestamp())),
        "webhook-signature": signatures,
    }
