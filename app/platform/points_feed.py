"""One Redis pub/sub connection per worker for every pointsChanged subscription on it.

A subscription listens to its member's channel through the worker's `PointsFeed`: the feed
subscribes a channel on its one connection when the first listener of that channel arrives,
hands each message to every listener of the channel, and unsubscribes when the last one
leaves. However many subscriptions a worker holds, Redis sees one connection, so subscriptions
can neither use up Redis's clients nor the worker's request-path pool.

The connection is opened by the first listener and closed a little after the last one has
left (at the next message or ping), so an idle worker holds none.

A listener's queue is one flag: "changed since you last looked". A message carries no data
(the subscriber reads the balance itself), so changes that arrive while a client is slow
coalesce into one and a slow client costs no memory.

When the connection is lost (Redis restarted, a network cut, no PONG within `ping_seconds`)
the feed reconnects by itself, with exponential backoff and jitter up to `max_backoff`, and
subscribes every channel that still has listeners. Listeners simply wait meanwhile: once
their channel is subscribed again each is told "changed" once, so the client gets the
balance as it is now (changes made during the outage included) and live updates after it,
without subscribing again. Only a new subscription needs Redis at once: `Listener.confirmed`
raises `FeedUnavailable` when its channel is not subscribed within `confirm_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from redis.exceptions import RedisError

from app.platform.pubsub import points_channel

log = logging.getLogger(__name__)


class FeedUnavailable(RedisError):
    """The feed could not subscribe a new listener's channel in time (Redis is away)."""


class Listener:
    """One subscription's view of its channel: confirmed once, then changed or not."""

    def __init__(self, feed: PointsFeed, channel: str) -> None:
        self.feed = feed
        self.channel = channel
        self._changed = asyncio.Event()
        self._confirmed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    def confirm(self) -> None:
        self._confirmed.set()

    @property
    def is_confirmed(self) -> bool:
        return self._confirmed.is_set()

    async def confirmed(self) -> None:
        """Wait until the channel is subscribed; FeedUnavailable after `confirm_seconds`."""
        try:
            async with asyncio.timeout(self.feed.confirm_seconds):
                await self._confirmed.wait()
        except TimeoutError:
            raise FeedUnavailable("live updates cannot subscribe: Redis does not answer") from None

    async def changed(self) -> None:
        """Wait for the next change (all changes since the last call count as one)."""
        await self._changed.wait()
        self._changed.clear()


class PointsFeed:
    """The worker's one pub/sub connection, shared by all its listeners (see the module)."""

    def __init__(
        self,
        redis: Any,
        prefix: str,
        *,
        confirm_seconds: float = 1.0,
        ping_seconds: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.confirm_seconds = confirm_seconds
        self.ping_seconds = ping_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._listeners: dict[str, set[Listener]] = {}
        self._pubsub: Any = None  # the connected pub/sub, None while (re)connecting
        self._subscribed: set[str] = set()  # channels SUBSCRIBEd on the current connection
        self._unconfirmed: dict[str, int] = {}  # SUBSCRIBEs sent and not yet confirmed
        self._confirmed: set[str] = set()
        self._commands = asyncio.Lock()  # SUBSCRIBE / UNSUBSCRIBE in the order decided
        self._reader: asyncio.Task[None] | None = None
        self.connections = 0  # connections made so far (1 unless Redis went away)

    # --- what subscriptions use -----------------------------------------------------------

    def channels(self) -> int:
        """Channels with at least one listener."""
        return len(self._listeners)

    def listeners(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    @property
    def connected(self) -> bool:
        """Whether the pub/sub connection is up (False while it reconnects)."""
        return self._pubsub is not None

    @contextlib.asynccontextmanager
    async def listen(self, member_id: int) -> AsyncIterator[Listener]:
        """A listener of the member's channel for the length of the block."""
        channel = points_channel(self.prefix, member_id)
        listener = Listener(self, channel)
        self._listeners.setdefault(channel, set()).add(listener)
        if channel in self._confirmed:
            listener.confirm()
        self._start()
        try:
            try:
                await self._sync(channel)
            except (RedisError, OSError):  # the reader reconnects and subscribes it then
                log.info("live updates: SUBSCRIBE not sent, waiting for the reconnection")
            yield listener
        finally:
            listeners = self._listeners.get(channel)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[channel]
            with contextlib.suppress(Exception):  # the reader recovers from a lost command
                await asyncio.shield(self._sync(channel))

    async def changes(self, member_id: int) -> AsyncGenerator[None, None]:
        """Yield once when the subscription is confirmed, then once per burst of changes.

        Reading the balance after the first yield misses nothing: any change committed after
        that read is announced on a channel already subscribed. Changes that came while the
        consumer was busy count as one, so a burst of changes costs one read."""
        async with self.listen(member_id) as listener:
            await listener.confirmed()
            yield
            while True:
                await listener.changed()
                yield

    async def aclose(self) -> None:
        """Stop the reader and close the connection (the worker is stopping)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    # --- the connection -------------------------------------------------------------------

    def _start(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._run())

    async def _sync(self, channel: str) -> None:
        """Make the connection's subscription of `channel` match whether it has listeners.
        Decided and sent under one lock, so a SUBSCRIBE and an UNSUBSCRIBE of one channel
        never overtake each other."""
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None:
                return  # the reader subscribes every listened channel once connected
            wanted = channel in self._listeners
            if wanted and channel not in self._subscribed:
                self._subscribed.add(channel)
                self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                await pubsub.subscribe(channel)
            elif not wanted and channel in self._subscribed:
                self._subscribed.discard(channel)
                self._confirmed.discard(channel)
                await pubsub.unsubscribe(channel)

    async def _run(self) -> None:
        """Connect, hand messages out, reconnect after a loss; end once no listener is left
        (checked right before the task ends, so a listener arriving later starts a new one)."""
        failures = 0
        while self._listeners:
            pubsub = self.redis.pubsub()
            try:
                await self._connect(pubsub)
                failures = 0
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # RedisError, OSError: the connection is gone
                log.warning("live updates: Redis pub/sub connection lost (%s)", error)
                failures += 1
            finally:
                self._lost()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if failures:
                delay = min(self.max_backoff, self.min_backoff * 2 ** (failures - 1))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: workers spread out

    async def _connect(self, pubsub: Any) -> None:
        async with self._commands:
            async with asyncio.timeout(self.confirm_seconds):
                await pubsub.connect()
            self.connections += 1
            self._pubsub = pubsub
            channels = list(self._listeners)
            if channels:
                self._subscribed.update(channels)
                for channel in channels:
                    self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                await pubsub.subscribe(*channels)

    async def _read(self, pubsub: Any) -> None:
        """Hand messages out until the connection fails or no listener is left; a silent
        connection is pinged and one that stays silent after the ping counts as lost."""
        pinged = False
        while self._listeners:
            message = await pubsub.get_message(timeout=self.ping_seconds)
            if message is None:
                if pinged:
                    raise ConnectionError(f"no answer to a ping within {self.ping_seconds} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            kind, channel = message["type"], message.get("channel")
            if kind == "message":
                for listener in self._listeners.get(channel, ()):
                    listener.notify()
            elif kind == "subscribe":
                self._confirm(channel)
            elif kind == "unsubscribe" and channel not in self._subscribed:
                self._confirmed.discard(channel)

    def _confirm(self, channel: str) -> None:
        """A SUBSCRIBE confirmed: once the last one sent for the channel is, its listeners
        are confirmed. A listener confirmed before has been resubscribed after the feed lost
        its connection: it is told "changed", as changes may have come meanwhile."""
        left = self._unconfirmed.get(channel, 0) - 1
        if left > 0:
            self._unconfirmed[channel] = left
            return
        self._unconfirmed.pop(channel, None)
        if channel not in self._subscribed:
            return
        self._confirmed.add(channel)
        for listener in self._listeners.get(channel, ()):
            if listener.is_confirmed:
                listener.notify()
            listener.confirm()

    def _lost(self) -> None:
        self._pubsub = None
        self._subscribed.clear()
        self._unconfirmed.clear()
        self._confirmed.clear()
