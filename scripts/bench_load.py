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
  local m = 1 + (math.random(0, %(active)d - 1) * 499) %% members
  local body = string.format('{"query":"mutation($i: EarnPointsInput!){earnPoints(input:$i){points errors{code}}}","variables":{"i":{"memberId":"%%d","businessUnitId":"HOTEL","orderRef":"W%%s-%%d","amount":"88.00","idempotencyKey":"W%%s-%%d"}}}', m, prefix, counter, prefix, counter)
  return wrk.format("POST", "/graphql", headers, body)
end
"""

SPEND = r"""
local members = %(members)d
local headers = {["Content-Type"] = "application/json", ["X-Api-Key"] = "%(key)s"}
request = function()
  counter = counter + 1
  local m = 1 + (math.random(0, %(active)d - 1) * 499) %% members
  local body = string.format('{"query":"mutation($i: SpendPointsInput!){spendPoints(input:$i){cnyDeducted errors{code}}}","variables":{"i":{"memberId":"%%d","businessUnitId":"HOTEL","orderRef":"S%%s-%%d","orderAmount":"1000.00","points":100,"idempotencyKey":"S%%s-%%d"}}}', m, prefix, counter, prefix, counter)
  return wrk.format("POST", "/graphql", headers, body)
end
"""

# A signed-in member sending one query, as one of the members in `tokens`.
MEMBER_QUERY = r"""
local tokens = %%(tokens)s
local body = '{"query":"%s"}'
request = function()
  local token = tokens[math.random(1, #tokens)]
  return wrk.format("POST", "/graphql",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""

# The mini-program's home screen: member, points, what expires soon, the last 10 transactions.
HOME = MEMBER_QUERY % (
    "{ me { id displayName points { available pending expiring(withinDays: 30) { expiresOn"
    " points } } transactions(first: 10) { edges { node { id kind points orderRef createdAt"
    " businessUnit { code } } } } } }"
)

# The smallest request a signed-in member can make: what the gateway costs before any SQL
# (HTTP, JSON, token, GraphQL parse/validate/execute, extensions, the budget's Redis script).
EMPTY = MEMBER_QUERY % "{ __typename }"

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
    values.setdefault("active", ACTIVE_MEMBERS)
    body = {"earn": EARN, "spend": SPEND, "home": HOME, "till": TILL, "empty": EMPTY}[kind]
    return (WRK_COMMON + body) % values


def lua_list(items) -> str:
    """A Lua table literal of strings, numbers and nested lists."""
    return (
        "{"
        + ", ".join(lua_list(i) if isinstance(i, list | tuple) else json.dumps(i) for i in items)
        + "}"
    )


# The members active during a run, the same ones for wrk and pgbench: `active_member(i)` for
# i < ACTIVE_MEMBERS earn and spend, the first HOME_MEMBERS of them are signed in to the
# mini-program, the first TILL_MEMBERS show their codes at a till. Their rows stay in memory,
# as an active member's do; the other members are history.
ACTIVE_MEMBERS = 1_000
HOME_MEMBERS = 200
TILL_MEMBERS = 500


def active_member(i: int, scale: int) -> int:
    """The i-th active member (0 <= i < ACTIVE_MEMBERS), spread over the data set."""
    return 1 + (i * 499) % scale


def bind(sql: str, **values: str) -> str:
    """The gateway's fixed SQL with its `$n` parameters replaced by pgbench expressions (`p1=`
    for `$1`, ...): the raw script sends exactly the statement text the gateway sends."""
    return re.sub(r"\$(\d+)", lambda m: values[f"p{m.group(1)}"], sql) + ";"


def home_script(members: int) -> str:
    """The home query's statements (app/graphql/core/loaders.py), for one random member: the member
    with its balance, its newest transactions with their units (first: 10, and one more to
    tell whether there is a next page), the points expiring within 30 days."""
    from app.graphql.core.loaders import EXPIRING_SQL, MEMBERS_SQL, TRANSACTIONS_SQL
    from app.platform.driver import one_key

    member = ":m"  # one member: the statements' one_key forms, as the gateway sends them
    return "\n".join(
        [
            f"\\set i random(0, {HOME_MEMBERS - 1})",  # as active_member
            f"\\set m 1 + (:i * 499) % {members}",
            bind(one_key(MEMBERS_SQL), p1=member),
            bind(one_key(TRANSACTIONS_SQL), p1=member, p2="11"),
            bind(
                one_key(EXPIRING_SQL),
                p1=member,
                p2="'Asia/Shanghai'",
                p3="'AVAILABLE'",
                p4="now()",
                p5="now() + interval '30 days'",
            ),
            "",
        ]
    )


def earn_script(members: int) -> str:
    """An earn's statements (app/domain), as the gateway sends them for 88.00 CNY at the HOTEL
    (unit 2, 2 points per CNY, no return window) for one random member: claim the idempotency
    key; the configuration's version (units, programme, tiers and campaigns are then the
    worker's copy); the member's link to the unit; the member with its balance row locked; the
    duplicate order check; the member's tier; the refund-loop check; the ledger writes in one
    statement (transaction, postings, lot, balance); the growth value; the stored result.
    BEGIN and COMMIT around them."""
    from app.domain.abuse.screening import REFUND_LOOP_SQL
    from app.domain.ledger.writer import LOCK_MEMBER, statement
    from app.domain.members.identity import KNOWN_SQL
    from app.domain.shared.configuration import VERSION_SQL
    from app.domain.shared.idempotency import CLAIM_SQL, KEEP_SQL
    from app.domain.tiers.growth import GROWTH
    from app.domain.tiers.standing import STANDING_SQL
    from app.domain.till.orders import RECORDED_ORDER
    from app.platform.driver import one_key

    ref = "'P' || :client_id::text || '-' || :r::text"
    rule = "'base' || chr(58) || 'HOTEL'"  # 'base:HOTEL' (pgbench reads `:HOTEL` as a variable)
    detail = (
        '(\'{"breakdown": [{"kind": "BASE", "rule": "base\' || chr(58) || \'HOTEL", '
        '"points": 176, "detail": "88.00 CNY x 2 pt/CNY, rounded down"}]}\')::jsonb'
    )
    record = {
        "p1": ":m", "p2": "'EARN'", "p3": "'ORDER'", "p4": rule, "p5": "2",
        "p6": "NULL", "p7": ref, "p8": "NULL", "p9": "88.00", "p10": "NULL", "p11": "176",
        "p12": "NULL", "p13": "NULL", "p14": "0", "p15": detail, "p16": "'pgbench'",
        "p17": ref, "p18": "now()",
        "p19": "ARRAY['MEMBER_AVAILABLE', 'ISSUED']", "p20": "ARRAY[:m, 2]",
        "p21": "ARRAY[176, -176]", "p22": "ARRAY[:m]", "p23": "ARRAY[2]", "p24": "ARRAY[2]",
        "p25": "ARRAY[0.01]", "p26": "ARRAY[176]", "p27": "ARRAY[176]",
        "p28": "ARRAY['AVAILABLE']", "p29": "ARRAY[now()]",
        "p30": "ARRAY[now() + interval '12 months']", "p31": "ARRAY[NULL::timestamptz]",
        "p32": "ARRAY[NULL::int]", "p33": "ARRAY[NULL::bigint]", "p34": "ARRAY[0]",
        "p35": ":m", "p36": ":available + 176", "p37": ":pending", "p38": ":debt",
        "p39": "('{\"memberId\": ' || :m::text || '}')",
    }  # fmt: skip
    return "\n".join(
        [
            f"\\set i random(0, {ACTIVE_MEMBERS - 1})",  # as active_member
            f"\\set m 1 + (:i * 499) % {members}",
            "\\set r random(1, 1000000000000)",
            "BEGIN;",
            bind(
                CLAIM_SQL,
                p1="'pgbench'",
                p2="'k' || :client_id::text || '-' || :r::text",
                p3="'earnPoints'",
                p4="md5(:r::text)",
                p5="now()",
            ),
            bind(VERSION_SQL),
            bind(KNOWN_SQL, p1="2", p2=":m"),
            bind(LOCK_MEMBER, p1=":m")[:-1] + " \\gset",  # available, pending, debt
            bind(RECORDED_ORDER, p1="2", p2="'EARN'", p3=ref),
            bind(STANDING_SQL + " FOR UPDATE", p1=":m"),
            bind(REFUND_LOOP_SQL, p1=":m", p2="2", p3="now() - interval '24 hours'"),
            bind(statement(new_lots=True, taken=False, changed=False), **record),
            bind(one_key(GROWTH), p1=":m", p2="now() - interval '12 months'", p3="now()"),
            bind(
                KEEP_SQL,
                p1="'pgbench'",
                p2="'k' || :client_id::text || '-' || :r::text",
                p3="'{\"transaction_id\": 1}'",
            ),
            "COMMIT;",
            "",
        ]
    )


def pgbench_script(kind: str, **values) -> str:
    """The raw-SQL script of an operation: `home` or `earn`."""
    build = {"home": home_script, "earn": earn_script}[kind]
    return build(values["members"])
