"""Ended sessions are kept SESSION_RETENTION_DAYS for the record, then pruned with their
refresh tokens; live ones and recently ended ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.domain.members.sessions import open_session, prune_sessions, sign_out
from app.models import MemberSession, RefreshToken
from app.settings import Settings
from tests.helpers import new_member

SETTINGS = Settings(refresh_token_ttl_days=30)
MONTH = timedelta(days=30)


async def _count(uow_factory) -> tuple[int, int]:
    async with uow_factory() as uow:
        sessions = await uow.session.scalar(select(func.count()).select_from(MemberSession))
        tokens = await uow.session.scalar(select(func.count()).select_from(RefreshToken))
    return sessions, tokens


async def test_sessions_ended_past_the_retention_are_pruned(units, uow_factory, clock):
    async with uow_factory() as uow:
        member = await new_member(uow, "MALL")
        expiring = await open_session(uow, SETTINGS, member_id=member, via="WECHAT", device_id=None)
        signed_out = await open_session(
            uow, SETTINGS, member_id=member, via="WECHAT", device_id="d"
        )
    async with uow_factory() as uow:
        await sign_out(uow, refresh_token=signed_out.refresh_token)
    clock.advance(days=45)  # both ended: one signed out 45 days ago, one expired 15 days ago
    async with uow_factory() as uow:
        live = await open_session(uow, SETTINGS, member_id=member, via="WECHAT", device_id=None)
    async with uow_factory() as uow:
        assert await prune_sessions(uow, retention=MONTH) == 1  # the one signed out
    assert await _count(uow_factory) == (2, 2)
    clock.advance(days=16)  # the expired one ended 31 days ago; the live one expires in 14
    async with uow_factory() as uow:
        assert await prune_sessions(uow, retention=MONTH) == 1
        assert await prune_sessions(uow, retention=MONTH) == 0
        left = list(await uow.session.scalars(select(MemberSession.id)))
    assert left == [live.session_id] and expiring.session_id != live.session_id
    assert await _count(uow_factory) == (1, 1)
