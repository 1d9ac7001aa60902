"""The two response media types of the GraphQL-over-HTTP specification.

- `application/json` (the default, and what `Accept: */*` or no Accept header gets): every
  well-formed request is answered HTTP 200, request errors included, with `"data": null`.
  Clients written before the specification expect this.
- `application/graphql-response+json`, when the Accept header prefers it (a higher quality, or
  the same quality as `application/json`): the response says so in its Content-Type, and a
  request error (nothing ran: a syntax, validation or variable error, an operation that cannot
  be chosen, the size, token and cost limits) is HTTP 4xx with no `data` entry at all:
  400 for the request itself, 429 for THROTTLED. An error raised while fields ran
  (it has a `path`) stays 200 with `data`, since part of the operation ran.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphql import GraphQLError

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
GRAPHQL_RESPONSE_CONTENT_TYPE = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"

_STATUS_BY_CODE = {"THROTTLED": 429, "TIMEOUT": 504, "UNAVAILABLE": 503}


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value.strip())))
            except ValueError:
                return 0.0
    return 1.0


def _qualities(accept: str) -> dict[str, float]:
    """Each media range of an Accept header with its quality (the highest if repeated)."""
    found: dict[str, float] = {}
    for item in accept.split(","):
        media_range, *parameters = item.split(";")
        media_range = media_range.strip().lower()
        if media_range:
            found[media_range] = max(found.get(media_range, 0.0), _quality(parameters))
    return found


def wants_graphql_response(accept: str | None) -> bool:
    """Whether the Accept header prefers application/graphql-response+json to
    application/json (wildcards count for application/json, the default)."""
    if not accept or GRAPHQL_RESPONSE_JSON not in accept.lower():
        return False
    qualities = _qualities(accept)
    preferred = qualities.get(GRAPHQL_RESPONSE_JSON, 0.0)
    json = qualities.get(JSON, qualities.get("application/*", qualities.get("*/*", 0.0)))
    return preferred > 0 and preferred >= json


def request_error_status(data: object, errors: Iterable[GraphQLError] | None) -> int | None:
    """The HTTP status of a result that is a request error (no data, and no error from a
    field); None for a result that ran."""
    errors = list(errors or ())
    if data is not None or not errors or any(error.path for error in errors):
        return None
    codes = [(error.extensions or {}).get("code") for error in errors]
    return next((_STATUS_BY_CODE[code] for code in codes if code in _STATUS_BY_CODE), 400)
