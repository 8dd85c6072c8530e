"""GET /export/opportunities.csv (and .xlsx): the board's download. CSV is UTF-8 with
a BOM (Excel opens Chinese text correctly).

Authenticated by a link from the `createExportLink` mutation (`?ticket=...`: good
once, for a minute; it carries the filter), or, for scripts, by
`Authorization: Bearer <token>` with query parameters mirroring OpportunityFilter
(ownerIds, departmentKeys, stageKeys, tags, priority, sources: repeat or comma-separate;
search; staleOnly=true, silentOnly=true, stuckForHours=N), plus `headers=zh` for Chinese column names. Bearer tokens
are never read from the URL: URLs end up in access logs, histories and proxies."""
from starlette.responses import JSONResponse, Response

from api.context import authenticate, new_context
from resolvers.exports import BadTicket, redeem
from resolvers.paging import BadInput
from resolvers.spreadsheets import export_rows, record_sheets, to_csv, to_xlsx

LIST_PARAMS = {
    "ownerIds": "owner_ids", "departmentKeys": "department_keys", "stageKeys": "stage_keys", "tags": "tags",
    "priority": "priority", "sources": "sources",
}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
SIGN_IN = "send Authorization: Bearer <token>, or use a link from the createExportLink mutation"


def filter_from_query(params) -> dict:
    flt = {}
    for name, key in LIST_PARAMS.items():
        values = [v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip()]
        if values:
            flt[key] = [v.upper() for v in values] if key == "priority" else values
    if params.get("search"):
        flt["search"] = params["search"]
    for name, key in (("staleOnly", "stale_only"), ("silentOnly", "silent_only")):
        if params.get(name, "").lower() in ("1", "true", "yes"):
            flt[key] = True
    if params.get("stuckForHours"):
        try:
            flt["stuck_for_hours"] = int(params["stuckForHours"])
        except ValueError:
            raise BadInput("stuckForHours must be a whole number of hours") from None
    return flt


def refused(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def export_opportunities(state, fmt: str, request) -> Response:
    ctx = new_context(state, request)
    params = request.query_params
    if "ticket" in params:
        try:
            ctx.viewer, claims = await redeem(state.db, state.secret_key, params["ticket"], fmt, ctx.clock())
        except BadTicket as exc:
            return refused(str(exc))
        flt, chinese = claims["f"], claims["h"]
    else:
        if "token" in params or "access_token" in params:
            return refused(f"Tokens are not accepted in URLs: {SIGN_IN}")
        await authenticate(ctx, request.headers.get("authorization"))
        if ctx.viewer is None:
            return refused(f"Sign in first: {SIGN_IN}")
        chinese = params.get("headers") == "zh"
        try:
            flt = filter_from_query(params)
        except BadInput as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    try:
        header, rows = await export_rows(ctx, flt, chinese=chinese)
        # A workbook carries the deals' contacts and follow-ups too, so it imports back whole.
        sheets = await record_sheets(ctx, header, rows, chinese=chinese) if fmt == "xlsx" else []
    except BadInput as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    stamp = ctx.clock().strftime("%Y%m%d-%H%M")
    return Response(
        to_xlsx(header, rows, sheets) if fmt == "xlsx" else to_csv(header, rows),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="opportunities-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
