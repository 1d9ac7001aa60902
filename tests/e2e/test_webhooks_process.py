"""`python -m app webhooks run` as production runs it: a dispatcher process killed (SIGKILL)
while its delivery is in flight loses nothing — a new process delivers the message after the
dead one's lease, under the same webhook-id."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from app.domain.access.principals import Principal
from app.domain.webhooks.endpoints import create_endpoint
from app.models import WebhookAttempt, WebhookMessage
from tests.helpers import earn, new_member
from tests.webhook_receiver import Receiver, receiving

OPS = Principal(kind="operator", subject="ops-1", roles=frozenset({"ops"}))
LEASE_SECONDS = 3


def dispatcher_process(database_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEBHOOKS_ALLOW_PRIVATE": "true",
        "WEBHOOKS_LEASE_SECONDS": str(LEASE_SECONDS),
        "WEBHOOKS_POLL_SECONDS": "0.2",
    }
    env.pop("JWT_SECRET", None)
    return subprocess.Popen(
        [sys.executable, "-m", "app", "webhooks", "run", "--log-format", "text"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )


async def _message(uow_factory) -> tuple[WebhookMessage, list[WebhookAttempt]]:
    async with uow_factory() as uow:
        message = (await uow.session.scalars(select(WebhookMessage))).one()
        attempts = list(
            await uow.session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.message_id == message.id)
            )
        )
    return message, attempts


async def test_a_killed_dispatcher_process_loses_nothing(
    units, uow_factory, database_url, tmp_path
):
    receiver = Receiver(hang=True)
    async with receiving(receiver) as url:
        async with uow_factory() as uow:
            secret, _ = await create_endpoint(
                uow, OPS, url=url, events=["POINTS_CHANGED"], private_ok=True
            )
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "100.00", unit="HOTEL")
        receiver.secrets.append(secret)
        first = dispatcher_process(database_url, tmp_path / "first.log")
        try:
            await asyncio.wait_for(receiver.arrived.wait(), 60)
            first.send_signal(signal.SIGKILL)  # mid-delivery: the request is in flight
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        message, attempts = await _message(uow_factory)
        assert (message.status, message.tries, attempts) == ("PENDING", 1, [])
        receiver.hang = False
        receiver.release.set()
        second = dispatcher_process(database_url, tmp_path / "second.log")
        try:
            deadline = time.monotonic() + 60
            while message.status != "DELIVERED" and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                message, attempts = await _message(uow_factory)
        finally:
            second.terminate()
            second.wait(timeout=20)
        logs = (tmp_path / "second.log").read_text()
    assert message.status == "DELIVERED", logs
    assert (message.tries, [a.status_code for a in attempts]) == (2, [200])
    # At least once, one message: whatever reached the receiver came under one webhook-id.
    assert set(receiver.ids()) == {message.webhook_id}
