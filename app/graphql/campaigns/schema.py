"""Campaigns: `campaigns` and `simulateCampaign` for ops (partners see what runs at their unit),
and the operators' `createCampaign`, `updateCampaign`, `endCampaign` (audited)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import strawberry
from strawberry import Info

from app.domain.access.principals import Principal
from app.domain.campaigns import admin as campaign_admin
from app.domain.campaigns.rules import spent_by_campaign
from app.domain.campaigns.simulation import simulate_campaign
from app.domain.shared.errors import DomainError, ErrorCode
from app.domain.shared.units import find_unit
from app.graphql.campaigns.types import (
    Campaign,
    CampaignConnection,
    CampaignEdge,
    CampaignPayload,
    CampaignSimulation,
    CreateCampaignInput,
    EndCampaignInput,
    SimulateCampaignInput,
    UpdateCampaignInput,
    spec_of_input,
)
from app.graphql.core.errors import domain_graphql_error
from app.graphql.core.execution import Effect, execute
from app.graphql.core.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from app.graphql.core.permissions import Forbidding, IsOps


class CanSeeCampaigns(Forbidding):
    message = "Only operators and partner apps may list campaigns."

    def allows(self, principal: Principal) -> bool:
        return principal.has_role("ops") or principal.is_partner


def _jsonable(values: dict[str, Any]) -> dict[str, str | None]:
    """An input as the idempotency fingerprint sees it."""
    return {key: None if value is None else str(value) for key, value in values.items()}


async def _run(info: Info, operation: str, effect: Effect, key: str | None, payload: dict):
    """Run an operator's change idempotently; the campaign as committed, or the errors."""
    ctx = info.context
    result, errors = await execute(
        ctx, operation=operation, effect=effect, idempotency_key=key, payload=payload
    )
    if errors:
        return CampaignPayload(errors=errors)
    async with ctx.uow() as uow:
        row = await campaign_admin.get_campaign(uow, result["campaign_id"])
        spent = await spent_by_campaign(uow, [row])
    assert row.id is not None
    return CampaignPayload(
        campaign=Campaign.from_row(row, ctx.now(), spent[row.id]),
        replayed=result.get("replayed", False),
    )


@strawberry.type
class CampaignQuery:
    @strawberry.field(
        permission_classes=[CanSeeCampaigns],
        description="Campaigns in id order. Ops see all (active: true running now, false the"
        " others); a partner app sees those running now that apply at its unit.",
    )
    async def campaigns(
        self,
        info: Info,
        active: bool | None = None,
        business_unit_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CampaignConnection:
        ctx = info.context
        try:
            limit = page_size(first)
            after_id = decode_cursor("cp", after)
            async with ctx.uow() as uow:
                unit_id = None
                if business_unit_id is not None:
                    unit_id = (await find_unit(uow, business_unit_id)).id
                if ctx.principal.is_partner:
                    active, unit_id = True, ctx.principal.unit_id
                rows = await campaign_admin.list_campaigns(
                    uow, active=active, unit_id=unit_id, limit=limit + 1, after_id=after_id
                )
                spent = await spent_by_campaign(uow, rows[:limit])  # one query for the page
        except DomainError as error:
            raise domain_graphql_error(error) from None
        now = ctx.now()
        edges = [
            CampaignEdge(
                cursor=encode_cursor("cp", row.id or 0),
                node=Campaign.from_row(row, now, spent[row.id or 0]),
            )
            for row in rows[:limit]
        ]
        return CampaignConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(
        permission_classes=[IsOps],
        description="Ops: what a campaign (saved, or an unsaved definition) would have given on"
        " the orders of a period, budget and per-member cap applied in order. Records nothing.",
    )
    async def simulate_campaign(
        self, info: Info, input: SimulateCampaignInput
    ) -> CampaignSimulation:
        try:
            if (input.campaign_id is None) == (input.campaign is None):
                raise DomainError(
                    ErrorCode.INVALID_INPUT, "give either campaignId or campaign", "campaignId"
                )
            async with info.context.uow() as uow:
                if input.campaign is not None:
                    campaign = await campaign_admin.build_campaign(
                        uow, spec_of_input(input.campaign)
                    )
                else:
                    campaign = await campaign_admin.get_campaign(uow, input.campaign_id or "")
                unit_id = None
                if input.business_unit_id is not None:
                    unit_id = (await find_unit(uow, input.business_unit_id)).id
                report = await simulate_campaign(
                    uow, campaign=campaign, since=input.since, until=input.until, unit_id=unit_id
                )
        except DomainError as error:
            raise domain_graphql_error(error) from None
        return CampaignSimulation.from_report(report)


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(
        permission_classes=[IsOps], description="Ops: start a campaign (logged in the trail)."
    )
    async def create_campaign(self, info: Info, input: CreateCampaignInput) -> CampaignPayload:
        actor = info.context.principal.caller
        spec = spec_of_input(input.campaign)

        async def effect(uow):
            row = await campaign_admin.create_campaign(
                uow, spec=spec, actor=actor, reason=input.reason
            )
            return {"campaign_id": row.id}

        payload = {**_jsonable(asdict(spec)), "reason": input.reason}
        return await _run(info, "createCampaign", effect, input.idempotency_key, payload)

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: change a campaign that has not ended (logged with before and after).",
    )
    async def update_campaign(self, info: Info, input: UpdateCampaignInput) -> CampaignPayload:
        actor = info.context.principal.caller
        changes = input.changes()

        async def effect(uow):
            row = await campaign_admin.update_campaign(
                uow, campaign_id=input.id, changes=changes, actor=actor, reason=input.reason
            )
            return {"campaign_id": row.id}

        payload = {**_jsonable(changes), "id": str(input.id), "reason": input.reason}
        return await _run(info, "updateCampaign", effect, input.idempotency_key, payload)

    @strawberry.mutation(
        permission_classes=[IsOps],
        description="Ops: end a campaign now; later orders get nothing from it (logged).",
    )
    async def end_campaign(self, info: Info, input: EndCampaignInput) -> CampaignPayload:
        actor = info.context.principal.caller

        async def effect(uow):
            row = await campaign_admin.end_campaign(
                uow, campaign_id=input.id, actor=actor, reason=input.reason
            )
            return {"campaign_id": row.id}

        payload = {"id": str(input.id), "reason": input.reason}
        return await _run(info, "endCampaign", effect, input.idempotency_key, payload)
