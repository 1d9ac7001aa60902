"""Operations: Prometheus figures per operation, request ids in and out, one log line per
request, masked errors that carry the request id, and logs free of secrets and phone numbers."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.domain.till import earning
from app.platform.logging import JsonFormatter, MaskSecrets, TextFormatter, mask
from app.platform.metrics import BoundedLabel, Metrics
from tests.api.conftest import EARN, SPEND, error_code
from tests.helpers import new_member

NAMED_EARN = EARN.replace("mutation(", "mutation TillEarn(", 1)
NAMED_SPEND = SPEND.replace("mutation(", "mutation TillSpend(", 1)
PRICE = "query Price($input: EarnPointsInput!) { previewEarn(input: $input) { points } }"


async def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample at /metrics: (name, labels) -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def member_and_till(units, uow_factory, creds) -> tuple[int, dict]:
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL")
    return member, await creds.partner("HOTEL")


def till_input(member: int, **fields) -> dict:
    values = {"memberId": str(member), "businessUnitId": "HOTEL", "orderRef": "M1"}
    return {"input": {**values, **fields}}


# --- /metrics ------------------------------------------------------------------------------


async def test_metrics_count_operations_latency_and_errors_by_code(
    member_and_till, gql, client, creds
):
    member, hotel = member_and_till
    earned = await gql(
        NAMED_EARN, till_input(member, amount="100.00", idempotencyKey="m1"), as_=hotel
    )
    assert earned["data"]["earnPoints"]["errors"] == []
    refused = await gql(
        NAMED_SPEND,
        till_input(member, orderRef="M2", orderAmount="100000", points=10000, idempotencyKey="m2"),
        as_=hotel,
    )
    assert refused["data"]["spendPoints"]["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    anonymous = await gql("query Me { me { id } }")
    assert error_code(anonymous) == "UNAUTHENTICATED"
    forbidden = await gql("query Listing { members(first: 1) { edges { cursor } } }", as_=hotel)
    assert error_code(forbidden) == "FORBIDDEN"
    await gql("{ businessUnits { code } }")

    samples = await scrape(client)
    requests = "bmg_graphql_requests_total"
    assert value(samples, requests, operation="TillEarn", type="mutation") == 1
    assert value(samples, requests, operation="TillSpend", type="mutation") == 1
    assert value(samples, requests, operation="Me", type="query") == 1
    assert value(samples, requests, operation="anonymous", type="query") == 1
    latency = "bmg_graphql_request_duration_seconds_count"
    assert value(samples, latency, operation="TillEarn", type="mutation") == 1
    assert value(
        samples, "bmg_graphql_request_duration_seconds_bucket", operation="TillEarn",
        type="mutation", le="+Inf",
    ) == 1  # fmt: skip
    user_errors = "bmg_graphql_user_errors_total"
    assert value(samples, user_errors, operation="TillSpend", code="INSUFFICIENT_POINTS") == 1
    assert value(samples, user_errors, operation="TillEarn", code="INSUFFICIENT_POINTS") == 0
    errors = "bmg_graphql_errors_total"
    assert value(samples, errors, operation="Me", code="UNAUTHENTICATED") == 1
    assert value(samples, errors, operation="Listing", code="FORBIDDEN") == 1


async def test_metrics_report_the_database_pool(gql, client, services):
    await gql("{ businessUnits { code } }")
    samples = await scrape(client)
    pool = services.sessions.kw["bind"].pool
    assert value(samples, "bmg_db_pool_size") == pool.size() == 20
    assert value(samples, "bmg_db_pool_checked_out") == 0  # every request gave its connection back
    assert ("bmg_db_pool_overflow", frozenset()) in samples
    assert value(samples, "process_cpu_seconds_total") > 0


async def test_masked_and_invalid_requests_are_counted(member_and_till, gql, client, monkeypatch):
    member, hotel = member_and_till
    monkeypatch.setattr(earning, "quote_earn", _explode)
    await gql(
        PRICE,
        till_input(member, amount="1"),
        as_=hotel,
    )
    await gql("query Broken { nope }")
    samples = await scrape(client)
    assert value(samples, "bmg_graphql_errors_total", operation="Price", code="INTERNAL") == 1
    assert (
        value(
            samples,
            "bmg_graphql_errors_total",
            operation="Broken",
            code="GRAPHQL_VALIDATION_FAILED",
        )
        == 1
    )


def test_client_chosen_operation_names_cannot_flood_the_registry():
    label = BoundedLabel(limit=3)
    assert [label(f"Op{i}") for i in range(5)] == ["Op0", "Op1", "Op2", "other", "other"]
    assert label("Op1") == "Op1"  # known names keep counting under their own label
    assert label(None) == "anonymous"
    assert label('x"} evil{') == "invalid"
    assert label("a" * 65) == "invalid"


def test_each_app_has_its_own_registry():
    first, second = Metrics(), Metrics()
    first.requests.labels("A", "query").inc()
    assert b'operation="A"' in first.render()[0]
    assert b'operation="A"' not in second.render()[0]


# --- Request ids and the request log ---------------------------------------------------------


async def test_a_request_id_is_made_or_kept_and_echoed(client):
    made = await client.post("/graphql", json={"query": "{ businessUnits { code } }"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    kept = await client.get("/healthz", headers={"X-Request-Id": "till-7.42:a"})
    assert kept.headers["x-request-id"] == "till-7.42:a"
    odd = await client.get("/healthz", headers={"X-Request-Id": 'x" injected=1\\n'})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])


async def test_one_log_line_per_request_with_operation_and_caller_kind(
    member_and_till, client, caplog
):
    member, hotel = member_and_till
    caplog.set_level(logging.INFO, logger="app.request")
    response = await client.post(
        "/graphql",
        json={
            "query": NAMED_SPEND,
            "variables": till_input(
                member, orderAmount="100000", points=10000, idempotencyKey="log-1"
            ),
        },
        headers={**hotel, "X-Request-Id": "req-spend-1"},
    )
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "app.request"]
    assert len(lines) == 1
    line = lines[0]
    assert (line.request_id, line.method, line.path, line.status) == (
        "req-spend-1",
        "POST",
        "/graphql",
        200,
    )
    assert (line.operation, line.operation_type, line.caller) == (
        "TillSpend",
        "mutation",
        "partner",
    )
    assert line.user_errors == "INSUFFICIENT_POINTS" and line.errors is None
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0
    key = hotel["X-Api-Key"]
    assert all(key not in json.dumps(vars(r), default=str) for r in caplog.records)


async def test_probes_and_scrapes_log_at_debug_only(client, caplog):
    caplog.set_level(logging.INFO, logger="app.request")
    await client.get("/healthz")
    await client.get("/metrics")
    assert [r for r in caplog.records if r.name == "app.request"] == []


# --- Masked errors carry the request id; the log has the traceback under it ------------------


def _explode(*args, **kwargs):
    raise RuntimeError("db password=hunter2 for 13812345678")


async def test_masked_error_names_the_request_id_and_is_logged_with_it(
    member_and_till, client, caplog, monkeypatch
):
    member, hotel = member_and_till
    monkeypatch.setattr(earning, "quote_earn", _explode)
    caplog.set_level(logging.INFO)
    response = await client.post(
        "/graphql",
        json={
            "query": PRICE,
            "variables": till_input(member, amount="1"),
        },
        headers=hotel,
    )
    error = response.json()["errors"][0]
    request_id = response.headers["x-request-id"]
    assert error["message"] == "Internal error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert "hunter2" not in response.text
    [logged] = [r for r in caplog.records if r.name == "app.graphql"]
    assert logged.levelno == logging.ERROR and logged.request_id == request_id
    assert logged.operation == "Price" and logged.field_path == "previewEarn"
    assert logged.exc_info and "hunter2" in str(logged.exc_info[1])  # the raw record, unmasked
    shown = io.StringIO()
    handler = logging.StreamHandler(shown)
    handler.addFilter(MaskSecrets())
    handler.setFormatter(JsonFormatter())
    handler.handle(logged)
    entry = json.loads(shown.getvalue())
    assert entry["request_id"] == request_id and "RuntimeError" in entry["traceback"]
    assert "13812345678" not in shown.getvalue() and "138****5678" in entry["traceback"]
    [access] = [r for r in caplog.records if r.name == "app.request"]
    assert access.request_id == request_id and access.errors == "INTERNAL"
    # Strawberry's own error logger stays quiet: the error is logged once, with its id.
    assert not [r for r in caplog.records if r.name == "strawberry.execution"]


# --- Secrets and phone numbers never reach the output -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("member 13812345678 registered", "member 138****5678 registered"),
        ("phone=19900001111,", "phone=199****1111,"),
        ("tel +86 13812345678.", "tel 138****5678."),
        ("手机13812345678号", "手机138****5678号"),
        ("12812345678 is not a mobile", "12812345678 is not a mobile"),
        ("order 1381234567890 is longer", "order 1381234567890 is longer"),
        ("id a13812345678b is an id", "id a13812345678b is an id"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("authorization='bearer xyz'", "authorization='bearer ***'"),
        ('{"X-Api-Key": "bmg_0123456789ab_SECRETvalue"}', '{"X-Api-Key": "***"}'),
        ("x-api-key=whatever123 next", "x-api-key=*** next"),
        ("key bmg_0123456789ab_SECRET-value_x used", "key bmg_*** used"),
        ("token eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl end", "token *** end"),
    ],
)
def test_mask(raw, shown):
    assert mask(raw) == shown


def _record(msg: str, *args, exc: BaseException | None = None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 1, msg, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    for key, val in extra.items():
        setattr(record, key, val)
    return record


def test_filter_masks_message_arguments_fields_and_traceback():
    try:
        raise ValueError("Key (phone)=(13900001111) already exists")
    except ValueError as error:
        record = _record(
            "login %s with %s",
            "13700002222",
            "Bearer s3cr3t",
            exc=error,
            headers={"x-api-key": "bmg_0123456789ab_zzz"},
            phones=["13600003333"],
        )
    assert MaskSecrets().filter(record) is True
    out = JsonFormatter().format(record)
    entry = json.loads(out)
    assert entry["message"] == "login 137****2222 with Bearer ***"
    assert entry["headers"] == {"x-api-key": "bmg_***"} and entry["phones"] == ["136****3333"]
    assert "139****1111" in entry["traceback"]
    for secret in ("13700002222", "s3cr3t", "zzz", "13900001111", "13600003333"):
        assert secret not in out


def test_filter_survives_a_bad_format_string():
    record = _record("%d points", "not a number")
    assert MaskSecrets().filter(record) is True
    assert "not a number" in record.getMessage()


def test_text_format_appends_the_fields():
    record = _record("done", request_id="r1", status=200)
    MaskSecrets().filter(record)
    assert TextFormatter().format(record).endswith("WARNING app.test done request_id=r1 status=200")
