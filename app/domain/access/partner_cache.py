"""Authenticated partner keys remembered per process for a short while.

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
