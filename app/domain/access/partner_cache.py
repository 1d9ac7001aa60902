"""Authenticated partner keys (and members that exist) remembered per process.

Every till request presents its key; looking it up costs a database session and a round trip.
A key that authenticated is remembered (by its SHA-256, never the plaintext) for
`PARTNER_KEY_CACHE_SECONDS` (30 s by default; 0 turns the cache off), so revoking a key takes
effect everywhere within that period. Unknown or revoked keys are not remembered.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta

from app.domain.access.principals import Principal


class PartnerKeyCache:
    def __init__(self, *, seconds: float, maxsize: int = 1024) -> None:
        self.ttl = timedelta(seconds=seconds)
        self.maxsize = maxsize
        self._entries: OrderedDict[str, tuple[datetime, Principal]] = OrderedDict()

    @staticmethod
    def _digest(plaintext: str) -> str:
        return hashlib.sha256(plaintext.strip().encode()).hexdigest()

    def get(self, plaintext: str, now: datetime) -> Principal | None:
        """The principal remembered for this key, if it was authenticated less than ttl ago."""
        if not self.ttl:
            return None
        digest = self._digest(plaintext)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if now - entry[0] >= self.ttl or now < entry[0]:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return entry[1]

    def put(self, plaintext: str, principal: Principal, now: datetime) -> None:
        if not self.ttl:
            return
        digest = self._digest(plaintext)
        self._entries[digest] = (now, principal)
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
