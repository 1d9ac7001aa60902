"""Authenticated partner keys (and members that exist) remembered per process.

Every till request presents its key; looking it up costs a database session and a round trip.
A key that authenticated is remembered (by its SHA-256, never the plaintext) for
`PARTNER_KEY_CACHE_SECONDS` (30 s by default; 0 turns the cache off), with the configuration
version (app.domain.shared.configuration) the worker held when it looked the key up. Revoking a
key moves that version (a trigger, migration 0022), and every unit of work reads the version
first (each earn and spend does): once any request of a worker has seen the new version, the
worker's remembered keys no longer match it and are looked up again, so the revoked key is
refused from then on, and in any case within PARTNER_KEY_CACHE_SECONDS. Unknown or revoked keys
are not remembered.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta

from app.domain.access.principals import Principal

Stamp = tuple[str, int] | None  # the configuration version a key was looked up under


class PartnerKeyCache:
    def __init__(self, *, seconds: float, maxsize: int = 1024) -> None:
        self.ttl = timedelta(seconds=seconds)
        self.maxsize = maxsize
        self._entries: OrderedDict[str, tuple[datetime, Principal, Stamp]] = OrderedDict()

    @staticmethod
    def _digest(plaintext: str) -> str:
        return hashlib.sha256(plaintext.strip().encode()).hexdigest()

    def get(self, plaintext: str, now: datetime, stamp: Stamp = None) -> Principal | None:
        """The principal remembered for this key, if it was authenticated less than ttl ago
        under the configuration version `stamp` (the worker's current one)."""
        if not self.ttl:
            return None
        digest = self._digest(plaintext)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if now - entry[0] >= self.ttl or now < entry[0] or entry[2] != stamp:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return entry[1]

    def put(self, plaintext: str, principal: Principal, now: datetime, stamp: Stamp = None) -> None:
        if not self.ttl:
            return
        digest = self._digest(plaintext)
        self._entries[digest] = (now, principal, stamp)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


class KnownMembers:
    """Member ids that exist, remembered per process (a member row is never deleted), so a
    member token costs one lookup per worker, not one per request. Bounded, LRU."""

    def __init__(self, maxsize: int = 65_536) -> None:
        self.maxsize = maxsize
        self._ids: OrderedDict[int, None] = OrderedDict()

    def __contains__(self, member_id: object) -> bool:
        if member_id in self._ids:
            self._ids.move_to_end(member_id)  # type: ignore[arg-type]
            return True
        return False

    def add(self, member_id: int) -> None:
        self._ids[member_id] = None
        if len(self._ids) > self.maxsize:
            self._ids.popitem(last=False)
