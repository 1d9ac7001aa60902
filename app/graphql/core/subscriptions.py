"""Caps on open subscriptions, so no caller can take a worker's Redis or memory for itself.

A websocket holds at most MAX_SUBSCRIPTIONS_PER_CONNECTION open subscriptions and a caller (a
member, an operator) at most MAX_SUBSCRIPTIONS_PER_CALLER across all its sockets on one
worker; one more is refused with SUBSCRIPTION_LIMIT (the others stay open). Redis that cannot
be reached when a subscription starts is UNAVAILABLE: retry later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphql import GraphQLError

_open_by_caller: Counter[str] = Counter()  # this worker's open subscriptions per caller


def subscription_limit(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "SUBSCRIPTION_LIMIT"})


def redis_unavailable() -> GraphQLError:
    return GraphQLError(
        "Live updates are unavailable for a moment; try again.",
        extensions={"code": "UNAVAILABLE"},
    )


def open_subscriptions(caller: str) -> int:
    return _open_by_caller[caller]


@contextmanager
def subscription_slot(ctx: Any) -> Iterator[None]:
    """Hold one of the connection's and the caller's subscription slots while the block runs;
    SUBSCRIPTION_LIMIT when either is used up."""
    settings, caller = ctx.settings, ctx.principal.caller
    if ctx.open_subscriptions >= settings.max_subscriptions_per_connection:
        raise subscription_limit(
            f"At most {settings.max_subscriptions_per_connection} subscriptions per connection."
        )
    if _open_by_caller[caller] >= settings.max_subscriptions_per_caller:
        raise subscription_limit(
            f"At most {settings.max_subscriptions_per_caller} subscriptions per caller."
        )
    ctx.open_subscriptions += 1
    _open_by_caller[caller] += 1
    try:
        yield
    finally:
        ctx.open_subscriptions -= 1
        _open_by_caller[caller] -= 1
        if _open_by_caller[caller] <= 0:
            del _open_by_caller[caller]
