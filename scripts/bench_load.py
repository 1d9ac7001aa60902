"""Load definitions: wrk Lua scripts for the gateway and pgbench scripts doing the same SQL.

Each operation exists twice: once as GraphQL through the gateway (wrk), once as the SQL the
gateway runs for it, sent straight to PostgreSQL (pgbench) — the raw limit it is compared to.
"""

from __future__ import annotations

import json
import re

WRK_COMMON = r"""
local threads = {}
local counter, prefix = 0, ""
errors = 0  -- a global: done() reads it from each thread
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = "%(run)s-" .. tid
end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors":%%[{') or string.find(body, '"errors": %%[{') then
    errors = errors + 1
  end
end
function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  io.write(string.format('BENCH {"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, "errors": %%d, "socket_errors": %%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

EARN = r"""
local members = %(members)d
local headers = {["Content-Type"] = "application/json", ["X-Api-Key"] = "%(key)s"}
request = function()
  counter = counter + 1
  local m = math.random(1, members)
  local body = string.format('{"query":"mutation($i: EarnPointsInput!){earnPoints(input:$i){points errors{code}}}","variables":{"i":{"memberId":"%%d","businessUnitId":"HOTEL","orderRef":"W%%s-%%d","amount":"88.00","idempotencyKey":"W%%s-%%d"}}}', m, prefix, counter, prefix, counter)
  return wrk.format("POST", "/graphql", headers, body)
end
"""

SPEND = r"""
local members = %(members)d
local headers = {["Content-Type"] = "application/json", ["X-Api-Key"] = "%(key)s"}
request = function()
  counter = counter + 1
  local m = math.random(1, members)
  local body = string.format('{"query":"mutation($i: SpendPointsInput!){spendPoints(input:$i){cnyDeducted errors{code}}}","variables":{"i":{"memberId":"%%d","businessUnitId":"HOTEL","orderRef":"S%%s-%%d","orderAmount":"1000.00","points":100,"idempotencyKey":"S%%s-%%d"}}}', m, prefix, counter, prefix, counter)
  return wrk.format("POST", "/graphql", headers, body)
end
"""

HOME = r"""
local tokens = %(tokens)s
local body = '{"query":"{ me { id displayName points { available pending expiring(withinDays: 30) { expiresOn points } } transactions(first: 10) { edges { node { id kind points orderRef createdAt businessUnit { code } } } } } }"}'
request = function()
  local token = tokens[math.random(1, #tokens)]
  return wrk.format("POST", "/graphql",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""

# The smallest request a signed-in member can make: what the gateway costs before any SQL
# (HTTP, JSON, token, GraphQL parse/validate/execute, extensions, the budget's Redis script).
EMPTY = r"""
local tokens = %(tokens)s
local body = '{"query":"{ __typename }"}'
request = function()
  local token = tokens[math.random(1, #tokens)]
  return wrk.format("POST", "/graphql",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""

TILL = r"""
local codes = %(codes)s
local headers = {["Content-Type"] = "application/json", ["X-Api-Key"] = "%(key)s"}
local step, pick = 0, 1
request = function()
  step = step + 1
  if step %% 2 == 1 then
    pick = math.random(1, #codes)
    local body = string.format('{"query":"{ memberByCode(code: \\"%%s\\") { id } }"}', codes[pick][1])
    return wrk.format("POST", "/graphql", headers, body)
  end
  counter = counter + 1
  local body = string.format('{"query":"mutation($i: EarnPointsInput!){earnPoints(input:$i){points errors{code}}}","variables":{"i":{"memberId":"%%d","businessUnitId":"HOTEL","orderRef":"T%%s-%%d","amount":"56.00","idempotencyKey":"T%%s-%%d"}}}', codes[pick][2], prefix, counter, prefix, counter)
  return wrk.format("POST", "/graphql", headers, body)
end
"""


def wrk_script(kind: str, **values) -> str:
    body = {"earn": EARN, "spend": SPEND, "home": HOME, "till": TILL, "empty": EMPTY}[kind]
    return (WRK_COMMON + body) % values


def lua_list(items) -> str:
    """A Lua table literal of strings, numbers and nested lists."""
    return (
        "{"
        + ", ".join(lua_list(i) if isinstance(i, list | tuple) else json.dumps(i) for i in items)
        + "}"
    )


# The SQL the gateway sends for each operation, in the same order, as pgbench scripts.
PGBENCH = {
    "earn": r"""
\set m random(1, %(members)d)
\set r random(1, 1000000000000)
BEGIN;
INSERT INTO idempotency_keys (caller, key, operation, fingerprint, result, created_at)
  VALUES ('pgbench', 'k' || :client_id || '-' || :r, 'earnPoints', md5(:r::text), '{}', now())
  ON CONFLICT DO NOTHING RETURNING key;
SELECT * FROM business_units WHERE code = 'HOTEL';
SELECT * FROM members WHERE id = :m;
SELECT * FROM member_unit_links WHERE business_unit_id = 2 AND member_id = :m;
SELECT * FROM member_balances WHERE member_id = :m FOR UPDATE;
SELECT id FROM points_transactions
  WHERE business_unit_id = 2 AND kind = 'EARN' AND order_ref = 'P' || :client_id || '-' || :r;
SELECT * FROM program WHERE id = 1;
INSERT INTO points_transactions (member_id, kind, source, rule, business_unit_id, order_ref,
    order_amount, points, debt_change, detail, caller, created_at)
  VALUES (:m, 'EARN', 'ORDER', 'base:HOTEL', 2, 'P' || :client_id || '-' || :r, 88.00, 176, 0,
    '{"breakdown": []}', 'pgbench', now()) RETURNING id \gset
INSERT INTO postings (transaction_id, account_kind, account_owner, points)
  VALUES (:id, 'MEMBER_AVAILABLE', :m, 176), (:id, 'ISSUED', 2, -176);
INSERT INTO points_lots (member_id, transaction_id, issuer_unit_id, funder_unit_id,
    cost_per_point, points, remaining, state, earned_at, expires_at)
  VALUES (:m, :id, 2, 2, 0.01, 176, 176, 'AVAILABLE', now(), now() + interval '12 months')
  RETURNING id;
UPDATE member_balances SET available = available + 176 WHERE member_id = :m;
UPDATE idempotency_keys SET result = '{"transaction_id": 1}'
  WHERE caller = 'pgbench' AND key = 'k' || :client_id || '-' || :r;
COMMIT;
""",
}


HOME_MEMBERS = 200  # members signed in for the home query, the same ones for wrk and pgbench


def home_member(i: int, scale: int) -> int:
    """The i-th signed-in member (0 <= i < HOME_MEMBERS), spread over the data set."""
    return 1 + (i * 499) % scale


def bind(sql: str, **values: str) -> str:
    """The gateway's fixed SQL with its `$n` parameters replaced by pgbench expressions (`p1=`
    for `$1`, ...): the raw script sends exactly the statement text the gateway sends."""
    return re.sub(r"\$(\d+)", lambda m: values[f"p{m.group(1)}"], sql) + ";"


def home_script(members: int) -> str:
    """The home query's statements (app/graphql/loaders.py), for one random member: the member
    with its balance, its newest transactions with their units (first: 10, and one more to
    tell whether there is a next page), the points expiring within 30 days."""
    from app.graphql.loaders import EXPIRING_SQL, MEMBERS_SQL, TRANSACTIONS_SQL

    member = "ARRAY[:m]"
    return "\n".join(
        [
            f"\\set i random(0, {HOME_MEMBERS - 1})",
            f"\\set m 1 + (:i * 499) % {members}",
            bind(MEMBERS_SQL, p1=member),
            bind(TRANSACTIONS_SQL, p1=member, p2="11"),
            bind(
                EXPIRING_SQL,
                p1=member,
                p2="'Asia/Shanghai'",
                p3="'AVAILABLE'",
                p4="now()",
                p5="now() + interval '30 days'",
            ),
            "",
        ]
    )


def pgbench_script(kind: str, **values) -> str:
    if kind == "home":
        return home_script(values["members"])
    return PGBENCH[kind] % values
