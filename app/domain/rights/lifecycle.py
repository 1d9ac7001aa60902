"""A right after it is issued: operators grant and revoke, members return, time expires.

- **Grant** (`grant_right`, operators): one instance of any right into a member's wallet, with
  a reason, source OPERATOR, audited. A grant is not a sale: it takes no stock and ignores the
  points price, the sale window and the per-member limit (a goodwill gesture must not fail
  because the shelf is empty); the right must still be active and its window not over.
- **Revoke** (`revokeRight`, operators): an ACTIVE voucher becomes REVOKED, with a reason,
  audited. A used voucher is refused (VOUCHER_USED): the provider has already given what it
  stood for. Revoking gives no points back; a bought right is returned with a refund.
- **Refund** (`refund_right`, the member or an operator): an unused bought right whose right is
  refundable goes back. Its points return through the ledger's restore path to the lots they
  came from (a RIGHT_REFUND entry reversing the purchase), its stock comes back, and the
  voucher is REFUNDED. NOT_REFUNDABLE for a right that is not, or was not bought;
  VOUCHER_USED / VOUCHER_EXPIRED / VOUCHER_REVOKED as at the till; ALREADY_REVERSED twice.
- **Expiry** (`expire_rights`, the job): ACTIVE vouchers past their validity are marked
  EXPIRED in batches; they already read as EXPIRED before (wallet.shown_status), so the job
  only makes the stored status agree. Running it again changes nothing.

Each of these sends VOUCHER_ENDED (reason REVOKED, REFUNDED or EXPIRED) for a voucher that
was still stored ACTIVE, in the same transaction (app.domain.rights.voucher_events).

Every function here runs under the member's balance lock before the voucher's row lock (the
order buying takes), so a refund and a write-off of the same voucher are serialised.
"""

from __future__ import annotations

from sqlalchemy import select, update

from app.domain.ledger.accounts import TxKind
from app.domain.ledger.redemption import restore
from app.domain.ledger.writer import lock_balance
from app.domain.members.identity import get_member
from app.domain.rights.catalogue import get_right
from app.domain.rights.voucher_events import EndReason, record_voucher_ended
from app.domain.rights.wallet import RightSource, RightStatus, issue_right, shown_status
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.operator_log import log_operator_action, operator_reason
from app.models import MemberRight, PointsTransaction, Right
from app.platform.uow import UnitOfWork

_GIVE_BACK_STOCK = """UPDATE rights SET stock_remaining = stock_remaining + 1
WHERE id = $1 AND stock_remaining IS NOT NULL"""

_ENDED = {
    RightStatus.USED: (ErrorCode.VOUCHER_USED, "this voucher was already used"),
    RightStatus.REVOKED: (ErrorCode.VOUCHER_REVOKED, "this voucher was revoked"),
    RightStatus.EXPIRED: (ErrorCode.VOUCHER_EXPIRED, "this voucher has expired"),
    RightStatus.REFUNDED: (ErrorCode.ALREADY_REVERSED, "this right was already returned"),
}


def _member_right_id(member_right_id: int | str) -> int:
    text = str(member_right_id).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member right {text!r}", "memberRightId")
    return int(text)


async def held_for_change(uow: UnitOfWork, member_right_id: int | str) -> tuple[MemberRight, Right]:
    """The wallet entry and its right, with the member's balance and then the entry's row locked
    (NOT_FOUND if there is none)."""
    wanted = _member_right_id(member_right_id)
    member_id = await uow.session.scalar(
        select(MemberRight.member_id).where(MemberRight.id == wanted)
    )
    if member_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member right {wanted}", "memberRightId")
    await lock_balance(uow, member_id)
    row = (
        await uow.session.execute(
            select(MemberRight, Right)
            .join(Right, Right.id == MemberRight.right_id)
            .where(MemberRight.id == wanted)
            .with_for_update(of=MemberRight)
            .execution_options(populate_existing=True)
        )
    ).one()
    return row[0], row[1]


def _refuse_ended(held: MemberRight, uow: UnitOfWork) -> None:
    refusal = _ENDED.get(RightStatus(shown_status(held, uow.now)))
    if refusal is not None:
        raise DomainError(refusal[0], refusal[1], "memberRightId")


async def grant_right(
    uow: UnitOfWork,
    *,
    member_id: int | str,
    right_id: int | str,
    reason: str,
    actor: str,
) -> MemberRight:
    """An operator puts one instance of a right into a member's wallet (see the docstring)."""
    text = operator_reason(reason, required=True)
    member = await get_member(uow, member_id)
    assert member.id is not None
    right = await get_right(uow, right_id)
    if not right.active:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{right.name} is withdrawn", "rightId")
    await lock_balance(uow, member.id)
    held = await issue_right(uow, member_id=member.id, right=right, source=RightSource.OPERATOR)
    await log_operator_action(
        uow,
        actor=actor,
        action="grantRight",
        target_kind="member",
        target_id=member.id,
        reason=text,
        detail={"memberRightId": held.id, "rightId": right.id, "rightCode": right.code},
    )
    return held


async def revoke_right(
    uow: UnitOfWork, *, member_right_id: int | str, reason: str, actor: str
) -> MemberRight:
    """An operator takes an unused voucher back (see the docstring)."""
    text = operator_reason(reason, required=True)
    held, right = await held_for_change(uow, member_right_id)
    if held.status == RightStatus.USED:
        raise DomainError(
            ErrorCode.VOUCHER_USED, "a used voucher cannot be revoked", "memberRightId"
        )
    if held.status in (RightStatus.REVOKED, RightStatus.REFUNDED):
        raise DomainError(ErrorCode.VOUCHER_REVOKED, "this voucher has ended", "memberRightId")
    before = held.status
    held.status = RightStatus.REVOKED.value
    held.ended_at, held.ended_by, held.end_reason = uow.now, actor[:64], text
    await uow.session.flush()
    if before == RightStatus.ACTIVE:  # an EXPIRED one has had its VOUCHER_ENDED
        record_voucher_ended(uow, held, right, EndReason.REVOKED, by=actor, note=text)
    await log_operator_action(
        uow,
        actor=actor,
        action="revokeRight",
        target_kind="memberRight",
        target_id=held.id or 0,
        reason=text,
        detail={
            "memberId": held.member_id,
            "rightCode": right.code,
            "before": before,
            "after": held.status,
        },
    )
    return held


async def refund_right(
    uow: UnitOfWork,
    *,
    member_right_id: int | str,
    caller: str,
    reason: str | None = None,
    caller_ref: str | None = None,
    member_id: int | None = None,
) -> MemberRight:
    """Return a bought, unused, refundable right (see the docstring). `member_id`: the caller
    is that member, who may return only their own (NOT_FOUND otherwise, as for a stranger's)."""
    text = operator_reason(reason, required=False)
    held, right = await held_for_change(uow, member_right_id)
    if member_id is not None and held.member_id != member_id:
        raise DomainError(ErrorCode.NOT_FOUND, f"no member right {held.id}", "memberRightId")
    if held.source != RightSource.BOUGHT or held.transaction_id is None:
        raise DomainError(
            ErrorCode.NOT_REFUNDABLE, "only a bought right can be returned", "memberRightId"
        )
    _refuse_ended(held, uow)
    if not right.refundable:
        raise DomainError(
            ErrorCode.NOT_REFUNDABLE, f"{right.name} cannot be returned", "memberRightId"
        )
    purchase = await uow.session.get(PointsTransaction, held.transaction_id)
    assert purchase is not None and purchase.id is not None
    balance = await lock_balance(uow, held.member_id)
    tx = PointsTransaction(
        member_id=held.member_id,
        kind=TxKind.RIGHT_REFUND.value,
        source="RIGHT",
        rule=f"refund:{right.code}",
        business_unit_id=purchase.business_unit_id,
        cny_value=purchase.cny_value,
        points=-purchase.points,
        reverses_id=purchase.id,
        reason=text,
        caller=caller[:64],
        caller_ref=caller_ref,
        created_at=uow.now,
    )
    await restore(uow, purchase, tx, balance)
    await (await uow.driver()).execute(_GIVE_BACK_STOCK, right.id)
    held.status = RightStatus.REFUNDED.value
    held.ended_at, held.ended_by, held.end_reason = uow.now, caller[:64], text
    held.refund_transaction_id = tx.id
    await uow.session.flush()
    record_voucher_ended(uow, held, right, EndReason.REFUNDED, by=caller, note=text)
    return held


async def expire_rights(uow: UnitOfWork, *, limit: int = 1000) -> int:
    """Mark up to `limit` ACTIVE vouchers past their validity EXPIRED; how many."""
    due = (
        select(MemberRight.id)
        .where(MemberRight.status == RightStatus.ACTIVE.value, MemberRight.valid_until <= uow.now)
        .order_by(MemberRight.valid_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    expired = list(
        await uow.session.scalars(
            update(MemberRight)
            .where(MemberRight.id.in_(due))  # type: ignore[union-attr]
            .values(status=RightStatus.EXPIRED.value)
            .returning(MemberRight)
            .execution_options(synchronize_session=False)
        )
    )
    right_ids = {held.right_id for held in expired}
    rights = {
        right.id: right
        for right in await uow.session.scalars(
            select(Right).where(Right.id.in_(right_ids))  # type: ignore[union-attr]
        )
    }
    for held in sorted(expired, key=lambda h: h.id or 0):
        record_voucher_ended(uow, held, rights[held.right_id], EndReason.EXPIRED, by=None)
    return len(expired)
