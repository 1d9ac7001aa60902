"""Sign-in under concurrency on PostgreSQL: one refresh token sent several times at once is one
rotation and then a revoked session (the copies cannot be told from a thief's); one WeChat
user signing in for the first time several times at once becomes one member, bound once, and
every attempt signs in."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.domain.engagement.rule_book import seed_activity_rules
from app.domain.members.sessions import refresh_session
from app.domain.members.wechat import sign_in_with_wechat
from app.domain.shared.errors import DomainError, ErrorCode
from app.models import Member, MemberSession, WeChatIdentity
from app.settings import Settings
from tests.conftest import NOW

pytestmark = pytest.mark.concurrency

SETTINGS = Settings()


@dataclass(frozen=True)
class User:
    openid: str
    unionid: str | None = None


class WeChatOf:
    """A WeChat whose every code is one user's and every phone code one number."""

    appid = "wx-test"

    def __init__(self, openid: str, phone: str) -> None:
        self.openid, self.phone = openid, phone

    async def user(self, code: str) -> User:
        await asyncio.sleep(0)
        return User(self.openid)

    async def phone_number(self, phone_code: str) -> str:
        await asyncio.sleep(0)
        return self.phone


async def test_one_refresh_token_sent_at_once_rotates_once_and_ends_the_session(
    units, wide, uow_factory
):
    wechat = WeChatOf("o-race", "13912347777")
    signed = await sign_in_with_wechat(wide, wechat, SETTINGS, now=NOW, code="c", phone_code="p")

    async def refresh():
        async with wide() as uow:
            return await refresh_session(uow, SETTINGS, refresh_token=signed.tokens.refresh_token)

    outcomes = await asyncio.gather(*(refresh() for _ in range(6)), return_exceptions=True)
    issued = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(issued) == 1 and len(refused) == 5, outcomes
    assert {e.code for e in refused} == {ErrorCode.INVALID_TOKEN}
    async with uow_factory() as uow:
        session = await uow.session.get(MemberSession, signed.tokens.session_id)
        assert session.revoked_reason == "REUSED"


async def test_first_sign_ins_at_once_make_one_member_bound_once(units, wide, uow_factory):
    async with uow_factory() as uow:
        await seed_activity_rules(uow)
    wechat = WeChatOf("o-twice", "13912348888")
    outcomes = await asyncio.gather(
        *(
            sign_in_with_wechat(wide, wechat, SETTINGS, now=NOW, code=f"c{i}", phone_code=f"p{i}")
            for i in range(5)
        ),
        return_exceptions=True,
    )
    signed = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(signed) == 5, outcomes  # the double taps sign in too, as the one member
    assert len({s.tokens.member_id for s in signed}) == 1
    assert sum(s.created for s in signed) == 1
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Member)) == 1
        assert await uow.session.scalar(select(func.count()).select_from(WeChatIdentity)) == 1
