"""GET /export/opportunities.csv?stageKeys=...&departmentKeys=...&search=...

A link the board can offer: CSV in UTF-8 with a BOM (Excel opens Chinese text
correctly). Authenticated like the API: `Authorization: Bearer <token>`, or a
`token` query parameter for plain links. Query parameters mirror OpportunityFilter
(ownerIds, departmentKeys, stageKeys, tags, priority: repeat or comma-separate;
search; staleOnly=true), plus `headers=zh` for Chinese column names."""
from starlette.responses import JSONResponse, Response

from api.context import authenticate, new_context
from resolvers.paging import BadInput
from resolvers.spreadsheets import export_rows, to_csv

LIST_PARAMS = {
    "ownerIds": "owner_ids", "departmentKeys": "department_keys", "stageKeys": "stage_keys", "tags": "tags",
    "priority": "priority",
}


def filter_from_query(params) -> dict:
    flt = {}
    for name, key in LIST_PARAMS.items():
        values = [v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip()]
        if values:
            flt[key] = [v.upper() for v in values] if key == "priority" else values
    if params.get("search"):
        flt["search"] = params["search"]
    if params.get("staleOnly", "").lower() in ("1", "true", "yes"):
        flt["stale_only"] = True
    return flt


async def export_csv(state, request) -> Response:
    ctx = new_context(state, request)
    authorization = request.headers.get("authorization")
    if not authorization and request.query_params.get("token"):
        authorization = f"Bearer {request.query_params['token']}"
    await authenticate(ctx, authorization)
    if ctx.viewer is None:
        return JSONResponse(
            {"error": "Sign in first: send Authorization: Bearer <token> or ?token=..."}, status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        header, rows = await export_rows(ctx, filter_from_query(request.query_params), chinese=request.query_params.get("headers") == "zh")
    except BadInput as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    stamp = ctx.clock().strftime("%Y%m%d-%H%M")
    return Response(
        to_csv(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="opportunities-{stamp}.csv"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
