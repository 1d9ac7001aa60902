"""schemathesis fuzzes the whole GraphQL schema against a served gateway, as an operator, a
member and a partner key: whatever it sends, no answer is INTERNAL or HTTP 5xx (issue 18).

Bounded so it takes well under a minute per caller: FUZZ_EXAMPLES documents per root field
(default 20), generated from a fixed seed (`derandomize`), so a run is repeatable and a
finding reproduces. Scalars the schema defines are drawn from valid values and from hostile
ones (non-ASCII digits, numbers past every integer column, NaN, NUL characters, text that is
no number or date at all). Query budgets are off here so that every document reaches the
resolvers (budgets have tests of their own); everything else runs as in production.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC
from typing import Any

import pytest
import schemathesis
from graphql import introspection_from_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.bootstrap import Services
from app.domain.access.partner_keys import create_partner_key
from app.domain.access.tokens import mint_member_token, mint_operator_token
from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import Settings
from tests.e2e.served import served
from tests.helpers import earn, new_member

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))

nodes = schemathesis.graphql.nodes
HOSTILE_TEXT = st.one_of(
    st.text(max_size=24),  # NUL and control characters included
    st.sampled_from(
        ["\x00", "١٢", "０１", "²", "³", "-0", "1e999999", "NaN", "-Infinity", " 1", "0x10"]
    ),
)
HUGE_NUMBERS = st.sampled_from(["2147483648", "99999999999", str(2**63), "-2147483649"])
# Strings: short text, text longer than most columns (a category holds 32), NUL, a lone
# surrogate (JSON can carry one, UTF-8 cannot), digits of other scripts.
schemathesis.graphql.scalar(
    "String",
    st.one_of(
        st.text(max_size=24),
        st.text(min_size=33, max_size=400),
        st.sampled_from(["\x00", "a\x00b", "\ud800", "١", "０１", "²", "", " "]),
    ).map(nodes.String),
)
# Ids: the few rows a test has (1..30), numbers past every integer column, and text.
schemathesis.graphql.scalar(
    "ID",
    st.one_of(
        st.integers(min_value=1, max_value=30).map(str),
        st.integers(min_value=1, max_value=30).map(nodes.Int),
        HUGE_NUMBERS,
        HOSTILE_TEXT,
    ).map(lambda value: value if not isinstance(value, str) else nodes.String(value)),
)
schemathesis.graphql.scalar(
    "Int",
    st.one_of(
        st.integers(min_value=-5, max_value=200),
        st.sampled_from([-(2**31), 2**31 - 1, 0, -1]),
    ).map(nodes.Int),
)
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(places=2).map(str), st.decimals().map(str), HOSTILE_TEXT, HUGE_NUMBERS
    ).map(nodes.String),
)
schemathesis.graphql.scalar("Date", st.one_of(st.dates().map(str), HOSTILE_TEXT).map(nodes.String))
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
        st.datetimes().map(lambda moment: moment.isoformat()),  # no time zone
        HOSTILE_TEXT,
    ).map(nodes.String),
)
schemathesis.graphql.scalar(
    "JSON", st.one_of(HOSTILE_TEXT.map(nodes.String), st.integers().map(nodes.Int))
)


def fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """One root field fuzzed EXAMPLES times; the answers that were INTERNAL or 5xx."""
    found: list[dict[str, Any]] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        # a connection per request: keep-alive met delayed ACKs and cost 40 ms a request
        response = case.call(base_url=base_url, headers=headers)
        if response.status_code >= 500 or '"INTERNAL"' in response.text:
            found.append(
                {
                    "operation": operation.label,
                    "status": response.status_code,
                    "sent": case.body,
                    "answer": response.text[:500],
                }
            )

    send()
    return found


def findings_of(base_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every root field of the schema fuzzed; what any of them answered INTERNAL or 5xx."""
    introspection = introspection_from_schema(build_schema()._schema)
    schema = schemathesis.graphql.from_dict(dict(introspection))
    found: list[dict[str, Any]] = []
    for result in schema.get_all_operations():
        found += fuzz(result.ok(), base_url, headers)
    return found


@pytest.fixture
def services(sessions, redis_client, redis_prefix, clock) -> Services:
    return Services(
        settings=Settings(redis_prefix=redis_prefix, query_budget_capacity=0),
        sessions=sessions,
        redis=redis_client,
        clock=lambda: clock.now,
    )


@pytest.fixture
async def callers(units, services, uow_factory) -> dict[str, dict[str, str]]:
    """An operator, a member with points and a hotel partner key with every scope."""
    async with uow_factory() as uow:
        member = await new_member(uow, "HOTEL", external_id="H-1")
        await earn(uow, member, "500", unit="HOTEL")
        key, _ = await create_partner_key(
            uow, business_unit="HOTEL", scopes=["earn", "spend", "write-off", "read"]
        )
    member_token = mint_member_token(services.settings, member)
    operator_token = mint_operator_token(services.settings, "ops-1", "ops")
    return {
        "operator": {"Authorization": f"Bearer {operator_token}"},
        "member": {"Authorization": f"Bearer {member_token}"},
        "partner": {"X-Api-Key": key},
    }


@pytest.mark.parametrize("caller", ["operator", "member", "partner"])
async def test_fuzzing_the_schema_finds_no_internal_error(services, callers, caller):
    async with served(create_app(services=services)) as address:
        found = await asyncio.to_thread(findings_of, f"http://{address}/graphql", callers[caller])
    assert found == [], json.dumps(found, indent=2, ensure_ascii=True)
