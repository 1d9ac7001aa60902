"""The statement's files over plain HTTP (the `csvUrl` of a statement), read with the same
credential as the API and the same rules: `GET /settlement/{period}.csv` (the statement) and
`GET /settlement/{period}.journal.csv` (its journal), `?businessUnitId=` for one party.

401 without a credential, 403 for a caller who may not read it, 400 (JSON with the code) for
a malformed period or an unknown unit; else 200, text/csv in UTF-8 with a BOM."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.domain.access.principals import Principal
from app.domain.settlement.exports import journal_csv, statement_csv
from app.domain.settlement.statements import settlement_statement
from app.domain.shared.errors import DomainError, ErrorCode, PermissionDenied


async def settlement_file(request: Request, services: Any, principal: Principal | None) -> Response:
    if principal is None:
        return JSONResponse({"code": "UNAUTHENTICATED"}, status_code=401)
    name = request.path_params["name"]
    journal = name.endswith(".journal")
    period = name.removesuffix(".journal")
    unit = request.query_params.get("businessUnitId") or None
    try:
        async with services.uow() as uow:
            statement = await settlement_statement(
                uow, principal=principal, period=period, business_unit=unit
            )
    except PermissionDenied as error:
        return JSONResponse({"code": "FORBIDDEN", "message": str(error)}, status_code=403)
    except DomainError as error:
        status = 404 if error.code == ErrorCode.NOT_FOUND else 400
        body = {"code": error.code.value, "message": error.message, "field": error.field}
        return JSONResponse(body, status_code=status)
    text = journal_csv(statement) if journal else statement_csv(statement)
    filename = f"settlement-{statement.period}{'-journal' if journal else ''}.csv"
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
