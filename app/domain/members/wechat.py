"""Members signing in from the mini-program with WeChat (docs/sign-in.md).

The mini-program sends the code from `wx.login`; WeChat tells whose it is (an openid in this
app, a unionid across the group's apps). A WeChat user bound to a member signs in as that
member. An unbound one must share a phone number (the phone-number button's code, resolved
at WeChat): a member with that phone — first registered at a till, say — is bound to the
WeChat user; with no such member a new member registers via the mini-program's unit
(WECHAT_REGISTRATION_UNIT), with the registration bonus and the optional referral code as any
registration has them, counted for the device's distinct members. Either way a session opens
(app.domain.members.sessions).

A member is bound to at most one WeChat user per app: a phone whose member is bound to another
WeChat account is PHONE_BOUND, never silently rebound; an operator unbinds it (audited) and the
next sign-in with that phone binds the new account.

WeChat is called outside any transaction (no connection is held while it answers), through a
port whose implementations raise INVALID_CODE or UNAVAILABLE (app.bootstrap adapts the HTTP
client and the development stand-in to it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from app.domain.abuse.screening import EarnScreen, device_reference
from app.domain.abuse.sign_in import admit_sign_in
from app.domain.members.identity import get_member, mask_phone, normalise_phone, register_member
from app.domain.members.sessions import (
    IssuedTokens,
    RevokeReason,
    open_session,
    revoke_member_sessions,
)
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action
from app.models import Member, WeChatIdentity
from app.platform.uow import UnitOfWork
from app.settings import Settings

VIA = "WECHAT"


class WeChatUserLike(Protocol):
    @property
    def openid(self) -> str: ...
    @property
    def unionid(self) -> str | None: ...


class WeChatLogin(Protocol):
    """WeChat's login for one mini-program; raises DomainError INVALID_CODE (field `code` or
    `phoneCode`) for a code WeChat refuses, UNAVAILABLE when WeChat cannot answer."""

    @property
    def appid(self) -> str: ...
    async def user(self, code: str) -> WeChatUserLike: ...
    async def phone_number(self, phone_code: str) -> str: ...


@dataclass(frozen=True)
class SignedIn:
    tokens: IssuedTokens
    created: bool  # a new member registered with this sign-in


OpenUnitOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


async def sign_in_with_wechat(
    open_uow: OpenUnitOfWork,
    wechat: WeChatLogin | None,
    settings: Settings,
    *,
    now: datetime,
    code: str,
    phone_code: str | None = None,
    referral_code: str | None = None,
    device_id: str | None = None,
    screen: EarnScreen | None = None,
) -> SignedIn:
    """Sign a member in with a `wx.login` code (and, the first time, a phone code)."""
    code = _code(code, "code")
    phone_code = _code(phone_code, "phoneCode") if phone_code is not None else None
    device = device_reference(device_id)
    if wechat is None:
        raise DomainError(ErrorCode.UNAVAILABLE, "WeChat sign-in is not configured", None)
    await admit_sign_in(screen, now=now, device=device)
    user = await wechat.user(code)
    await admit_sign_in(screen, now=now, openid=user.openid)
    async with open_uow() as uow:
        member_id = await _bound_member(uow, wechat.appid, user)
        if member_id is not None:
            tokens = await open_session(
                uow, settings, member_id=member_id, via=VIA, device_id=device
            )
            return SignedIn(tokens, created=False)
        if phone_code is None:
            raise DomainError(
                ErrorCode.PHONE_REQUIRED,
                "a first sign-in shares a phone number: send a new login code with the "
                "phone-number button's code",
                "phoneCode",
            )
        if referral_code:  # checked before the phone code is spent on WeChat
            await _referrer(uow, referral_code)
    phone = _phone(await wechat.phone_number(phone_code))
    for attempt in (1, 2):
        try:
            return await _bind_or_register(
                open_uow,
                settings,
                appid=wechat.appid,
                user=user,
                phone=phone,
                referral_code=referral_code,
                device=device,
                screen=screen,
            )
        except DomainError as error:
            # A sign-in of the same person at the same moment (a double tap) registered the
            # phone first: once it has committed, this one finds the member bound.
            if error.code is not ErrorCode.DUPLICATE or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _bind_or_register(
    open_uow: OpenUnitOfWork,
    settings: Settings,
    *,
    appid: str,
    user: WeChatUserLike,
    phone: str,
    referral_code: str | None,
    device: str | None,
    screen: EarnScreen | None,
) -> SignedIn:
    """The WeChat user bound to the member with this phone, registered if there is none; a
    session for them."""
    async with open_uow() as uow:
        created = False
        member_id = await _bound_member(uow, appid, user)  # a sign-in in between
        if member_id is None:
            member = await _member_with_phone(uow, phone)
            if member is None:
                member = await register_member(
                    uow,
                    phone=phone,
                    display_name=f"Member {phone[-4:]}",
                    business_unit=settings.wechat_registration_unit,
                    referral_code=referral_code,
                    device_id=device,
                    screen=screen,
                )
                created = True
            assert member.id is not None
            await bind_wechat(uow, appid=appid, user=user, member_id=member.id)
            member_id = member.id
        tokens = await open_session(uow, settings, member_id=member_id, via=VIA, device_id=device)
    return SignedIn(tokens, created=created)


async def bind_wechat(uow: UnitOfWork, *, appid: str, user: WeChatUserLike, member_id: int) -> None:
    """Bind a WeChat user to a member; PHONE_BOUND when the member has another one."""
    bound = (
        await uow.session.scalars(
            select(WeChatIdentity.openid)
            .where(WeChatIdentity.appid == appid, WeChatIdentity.member_id == member_id)
            .with_for_update()
        )
    ).first()
    if bound is not None and bound != user.openid:
        raise DomainError(
            ErrorCode.PHONE_BOUND,
            "this phone's member is bound to another WeChat account; customer service can move it",
            "phoneCode",
        )
    if bound is not None:
        return
    inserted = await uow.session.execute(
        insert(WeChatIdentity)
        .values(
            appid=appid,
            openid=user.openid,
            unionid=user.unionid,
            member_id=member_id,
            bound_at=uow.now,
        )
        .on_conflict_do_nothing()
        .returning(WeChatIdentity.id)
    )
    if inserted.scalar() is None:  # bound at the same moment by another sign-in
        raise DomainError(
            ErrorCode.DUPLICATE, "this WeChat account was bound at the same moment", "code"
        )


async def unbind_wechat(uow: UnitOfWork, *, actor: str, member_id: int | str, reason: str) -> int:
    """Operators: unbind a member's WeChat accounts (the next sign-in with the member's phone
    binds the new one) and end their sessions; in the audit trail. Returns how many were
    bound."""
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "give a reason (1-200 characters)", "reason")
    member = await get_member(uow, member_id)
    assert member.id is not None
    removed = list(
        (
            await uow.session.execute(
                delete(WeChatIdentity)
                .where(WeChatIdentity.member_id == member.id)
                .returning(WeChatIdentity.appid, WeChatIdentity.openid)
            )
        ).all()
    )
    ended = await revoke_member_sessions(uow, member_id=member.id, reason=RevokeReason.UNBOUND)
    await log_operator_action(
        uow,
        actor=actor,
        action="member.wechat_unbind",
        target_kind="member",
        target_id=member.id,
        reason=reason,
        detail={
            "phone": mask_phone(member.phone),
            "unbound": [{"appid": appid, "openid": openid} for appid, openid in removed],
            "sessionsEnded": ended,
        },
    )
    return len(removed)


async def _bound_member(uow: UnitOfWork, appid: str, user: WeChatUserLike) -> int | None:
    """The member this WeChat user is bound to: by openid in this app, else by unionid (the
    same person bound through another of the group's apps), which binds this app too."""
    found = (
        await uow.session.scalars(
            select(WeChatIdentity.member_id).where(
                WeChatIdentity.appid == appid, WeChatIdentity.openid == user.openid
            )
        )
    ).first()
    if found is not None or not user.unionid:
        return found
    by_union = (
        await uow.session.scalars(
            select(WeChatIdentity.member_id).where(WeChatIdentity.unionid == user.unionid)
        )
    ).first()
    if by_union is not None:
        await bind_wechat(uow, appid=appid, user=user, member_id=by_union)
    return by_union


async def _member_with_phone(uow: UnitOfWork, phone: str) -> Member | None:
    return (
        await uow.session.scalars(select(Member).where(Member.phone == phone).with_for_update())
    ).first()


async def _referrer(uow: UnitOfWork, referral_code: str) -> None:
    found = (
        await uow.session.scalars(
            select(Member.id).where(Member.referral_code == referral_code.strip().upper())
        )
    ).first()
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "unknown referral code", "referralCode")


def _code(raw: str | None, field: str) -> str:
    """A code from the mini-program: 1-128 printable characters."""
    text = (raw or "").strip()
    if not 1 <= len(text) <= 128 or not text.isprintable():
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} must be 1-128 characters", field)
    return text


def _phone(number: str) -> str:
    """The shared number as a member's phone; a number outside the mainland is refused."""
    try:
        return normalise_phone(number)
    except DomainError:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "the shared phone number is not a mainland mobile number",
            "phoneCode",
        ) from None
