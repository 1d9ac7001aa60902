"""Points-changed events over Redis pub/sub, so every gateway worker hears every change.

Publishers call `publish_points_changed` after their transaction has committed (the jobs), or
hand the member to the worker's `PointsAnnouncer` (requests), which sends what it was given in
one pipelined round trip without making the request wait. Subscribers listen through the
worker's one pub/sub connection (app.platform.points_feed) and read the fresh balance from the
database themselves (a message carries no data).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

CHANGED = "changed"


def points_channel(prefix: str, member_id: int) -> str:
    return f"{prefix}points:{member_id}"


async def publish_points_changed(redis: Any, prefix: str, member_id: int) -> bool:
    """Announce that a member's points changed; False (logged) when Redis is unreachable.

    The change itself is committed already: a lost announcement must not fail the caller.
    """
    try:
        await redis.publish(points_channel(prefix, member_id), CHANGED)
    except Exception:
        log.warning("points-changed event for member %s not published", member_id, exc_info=True)
        return False
    return True


class PointsAnnouncer:
    """A worker's announcements of points changes. `announce` only marks the member; what is
    marked goes to Redis at the event loop's next turn in one pipelined round trip, one message
    per member however many changes it had, so a request never waits for Redis and a busy
    worker sends many announcements per round trip. Marks made while a round trip is under way
    go in the next one. A lost round trip is logged and fails nothing (as with
    `publish_points_changed`): subscribers read the balance itself when told."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._marked: dict[int, None] = {}  # insertion-ordered set
        self._sending: asyncio.Task[None] | None = None

    def announce(self, member_id: int) -> None:
        self._marked[member_id] = None
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def drain(self) -> None:
        """Wait until everything marked so far has been sent (or given up on)."""
        while self._sending is not None and not self._sending.done():
            await asyncio.shield(self._sending)

    async def _send(self) -> None:
        while self._marked:
            members = list(self._marked)
            self._marked.clear()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for member_id in members:
                        pipe.publish(points_channel(self.prefix, member_id), CHANGED)
                    await pipe.execute()
            except Exception:
                log.warning(
                    "points-changed events for %d member(s) not published",
                    len(members),
                    exc_info=True,
                )
