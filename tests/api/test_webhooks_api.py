"""Webhooks out over GraphQL: who may manage which endpoint, the secret shown once, URLs that
would reach the gateway's own network refused, the delivery log with its attempts, replay and
recovery."""

from __future__ import annotations

import pytest

from app.jobs.webhooks import WebhookDispatcher
from app.settings import Settings
from tests.api.conftest import error_code
from tests.helpers import earn, new_member
from tests.webhook_receiver import Receiver, receiving

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url events businessUnitId health { enabled } }
    secret errors { code field message }
  }
}"""
LIST = """
query($unit: ID) {
  webhookEndpoints(businessUnitId: $unit) {
    edges { node { id url events health { enabled disabledReason failingSince lastSuccessAt } } }
  }
}"""
DELIVERIES = """
query($id: ID!, $status: DeliveryStatus) {
  webhookDeliveries(endpointId: $id, status: $status) {
    edges { node { id webhookId type status sequence
                   attempts { statusCode durationMs error responseExcerpt } } }
  }
}"""
ROTATE = """
mutation($id: ID!) {
  rotateWebhookSecret(endpointId: $id) { endpoint { id } secret errors { code } }
}"""
DISABLE = """
mutation($id: ID!) {
  disableWebhookEndpoint(endpointId: $id, reason: "maintenance") {
    endpoint { health { enabled disabledReason } } secret errors { code }
  }
}"""
ENABLE = """
mutation($id: ID!) { enableWebhookEndpoint(endpointId: $id) { endpoint { health { enabled } } } }"""
REPLAY = """
mutation($id: ID!) {
  replayWebhookDelivery(id: $id) { delivery { status webhookId } errors { code message } }
}"""
RECOVER = """
mutation($id: ID!, $since: DateTime!) {
  recoverWebhookDeliveries(endpointId: $id, since: $since) { recovered errors { code } }
}"""


@pytest.fixture
def settings(redis_prefix) -> Settings:
    # Not development: URLs are held to https on public addresses unless allowed outright.
    return Settings(redis_prefix=redis_prefix, env="test", webhooks_allow_private=False)


def new_input(url="https://8.8.8.8/hook", events=("POINTS_CHANGED",), unit=None) -> dict:
    return {"input": {"url": url, "events": list(events), "businessUnitId": unit}}


async def test_ops_create_an_endpoint_and_see_its_secret_once(units, gql, creds):
    answer = await gql(CREATE, new_input(events=["TIER_CHANGED", "MALL_ORDER_CHANGED"]),
                       as_=creds.operator())  # fmt: skip
    payload = answer["data"]["createWebhookEndpoint"]
    assert payload["errors"] == []
    assert payload["secret"].startswith("whsec_")
    assert payload["endpoint"]["events"] == ["MALL_ORDER_CHANGED", "TIER_CHANGED"]
    assert payload["endpoint"]["businessUnitId"] is None
    listed = await gql(LIST, as_=creds.operator())
    assert payload["secret"] not in str(listed)
    [edge] = listed["data"]["webhookEndpoints"]["edges"]
    assert edge["node"]["health"]["enabled"] is True


@pytest.mark.parametrize(
    "url",
    ["http://8.8.8.8/hook", "https://127.0.0.1/hook", "https://localhost/hook",
     "https://169.254.169.254/latest/meta-data", "https://10.0.0.5/hook", "https://[::1]/hook",
     "not a url", ""],
)  # fmt: skip
async def test_urls_that_are_not_https_on_a_public_address_are_invalid_input(
    units, gql, creds, url
):
    answer = await gql(CREATE, new_input(url=url), as_=creds.operator())
    payload = answer["data"]["createWebhookEndpoint"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", "url")]
    assert payload["secret"] is None


async def test_unknown_event_types_are_refused_by_the_schema(units, gql, creds):
    answer = await gql(CREATE, new_input(events=["EVERYTHING"]), as_=creds.operator())
    assert answer["data"] is None and answer["errors"]


async def test_a_units_key_with_the_webhooks_scope_manages_its_own_endpoints_only(
    units, gql, creds
):
    hotel = await creds.partner("HOTEL", "webhooks")
    mall = await creds.partner("MALL", "webhooks")
    own = await gql(CREATE, new_input(), as_=hotel)
    endpoint = own["data"]["createWebhookEndpoint"]["endpoint"]
    assert endpoint["businessUnitId"] == str(units["HOTEL"])  # naming none: its own unit
    other = await gql(CREATE, new_input(unit="MALL"), as_=hotel)
    assert error_code(other) == "FORBIDDEN"
    group = await gql(CREATE, new_input(), as_=creds.operator())
    group_id = group["data"]["createWebhookEndpoint"]["endpoint"]["id"]
    for query, variables in (
        (ROTATE, {"id": endpoint["id"]}),
        (DISABLE, {"id": endpoint["id"]}),
        (DELIVERIES, {"id": endpoint["id"]}),
    ):
        assert error_code(await gql(query, variables, as_=mall)) == "FORBIDDEN"
        assert error_code(await gql(query, {"id": group_id}, as_=hotel)) == "FORBIDDEN"
        assert error_code(await gql(query, {"id": "999999"}, as_=hotel)) == "FORBIDDEN"
    listed = await gql(LIST, as_=hotel)
    assert [e["node"]["id"] for e in listed["data"]["webhookEndpoints"]["edges"]] == [
        endpoint["id"]
    ]
    assert error_code(await gql(LIST, {"unit": "MALL"}, as_=hotel)) == "FORBIDDEN"


async def test_without_the_webhooks_scope_or_ops_it_is_forbidden(units, gql, creds):
    till = await creds.partner("HOTEL", "earn,spend,write-off,read")
    assert error_code(await gql(CREATE, new_input(), as_=till)) == "FORBIDDEN"
    assert error_code(await gql(LIST, as_=creds.operator("finance"))) == "FORBIDDEN"
    assert error_code(await gql(LIST)) == "UNAUTHENTICATED"


async def test_ops_get_not_found_for_an_unknown_endpoint(units, gql, creds):
    answer = await gql(ROTATE, {"id": "424242"}, as_=creds.operator())
    assert answer["data"]["rotateWebhookSecret"]["errors"] == [{"code": "NOT_FOUND"}]


async def test_rotation_returns_a_new_secret_and_disable_enable(units, gql, creds):
    ops = creds.operator()
    made = (await gql(CREATE, new_input(), as_=ops))["data"]["createWebhookEndpoint"]
    rotated = (await gql(ROTATE, {"id": made["endpoint"]["id"]}, as_=ops))["data"]
    assert rotated["rotateWebhookSecret"]["secret"].startswith("whsec_")
    assert rotated["rotateWebhookSecret"]["secret"] != made["secret"]
    disabled = (await gql(DISABLE, {"id": made["endpoint"]["id"]}, as_=ops))["data"]
    health = disabled["disableWebhookEndpoint"]["endpoint"]["health"]
    assert health == {"enabled": False, "disabledReason": "maintenance"}
    assert disabled["disableWebhookEndpoint"]["secret"] is None
    enabled = (await gql(ENABLE, {"id": made["endpoint"]["id"]}, as_=ops))["data"]
    assert enabled["enableWebhookEndpoint"]["endpoint"]["health"]["enabled"] is True


async def test_the_delivery_log_replay_and_recovery(
    units, gql, creds, services, uow_factory, sessions, clock
):
    ops = creds.operator()
    receiver = Receiver(status=500)
    allowed = Settings(webhooks_allow_private=True, env="test")
    dispatcher = WebhookDispatcher(
        sessions=sessions, settings=allowed, clock=lambda: clock.now, draw=lambda a, b: 1.0
    )
    async with receiving(receiver) as url:
        services.settings = allowed  # a loopback receiver for this test
        made = (await gql(CREATE, new_input(url=url), as_=ops))["data"]["createWebhookEndpoint"]
        receiver.secrets.append(made["secret"])
        endpoint_id = made["endpoint"]["id"]
        async with uow_factory() as uow:
            member = await new_member(uow, "HOTEL")
            await earn(uow, member, "10.00", unit="HOTEL")
        for _ in range(8):  # every attempt fails: the message is given up
            await dispatcher.run_once()
            clock.advance(hours=11)
        log = await gql(DELIVERIES, {"id": endpoint_id, "status": "FAILED"}, as_=ops)
        [edge] = log["data"]["webhookDeliveries"]["edges"]
        delivery = edge["node"]
        assert (delivery["type"], delivery["status"], delivery["sequence"]) == (
            "POINTS_CHANGED",
            "FAILED",
            1,
        )
        assert [a["statusCode"] for a in delivery["attempts"]] == [500] * 8
        assert delivery["attempts"][0]["responseExcerpt"] == "no"

        receiver.status = 200
        replayed = await gql(REPLAY, {"id": delivery["id"]}, as_=ops)
        assert replayed["data"]["replayWebhookDelivery"]["delivery"] == {
            "status": "PENDING",
            "webhookId": delivery["webhookId"],
        }
        await dispatcher.run_once()
        assert receiver.ids() == [delivery["webhookId"]]

        async with uow_factory() as uow:
            await earn(uow, member, "10.00", unit="HOTEL")
        receiver.status = 503
        for _ in range(8):
            await dispatcher.run_once()
            clock.advance(hours=11)
        receiver.status = 200
        since = "2026-01-01T00:00:00+00:00"
        recovered = await gql(RECOVER, {"id": endpoint_id, "since": since}, as_=ops)
        assert recovered["data"]["recoverWebhookDeliveries"] == {"recovered": 1, "errors": []}
        await dispatcher.run_once()
        await dispatcher.aclose()
    assert len(receiver.verified) == 2
    delivered = await gql(DELIVERIES, {"id": endpoint_id, "status": "DELIVERED"}, as_=ops)
    assert len(delivered["data"]["webhookDeliveries"]["edges"]) == 2
    listed = await gql(LIST, as_=ops)
    health = listed["data"]["webhookEndpoints"]["edges"][0]["node"]["health"]
    assert health["failingSince"] is None and health["lastSuccessAt"] is not None
