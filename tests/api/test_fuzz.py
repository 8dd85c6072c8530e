"""Schema fuzzing with hypothesis-graphql: queries and mutations generated from the
served schema, sent by a signed-in user to the real app (SQLite and PostgreSQL).
Never a server error, never an unmasked error, and the database stays consistent.
BATON_FUZZ_EXAMPLES (per backend and per kind, default 100) scales it up."""
import os
from datetime import timezone

import httpx
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis_graphql import from_schema, nodes

from api.app import create_app, hardened_schema
from api.settings import Settings
from tests.invariants import check_invariants

EXAMPLES = int(os.environ.get("BATON_FUZZ_EXAMPLES", "100"))
RUN: dict = {}

SCALARS = {
    "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
    "DateTime": st.datetimes(timezones=st.none() | st.just(timezone.utc)).map(lambda d: nodes.String(d.isoformat())),
    "Decimal": st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(lambda d: nodes.String(str(d))),
        st.text(max_size=8).map(nodes.String),
    ),
    "JSON": st.just(nodes.String("{}")),
    "Upload": st.just(nodes.Null),
}


def documents(kind: str, schema_sdl: str, n: int) -> list[str]:
    found: list[str] = []
    # Generated fields: the root type of `kind` only (queries or mutations).
    import graphql

    parsed = graphql.build_schema(schema_sdl)
    root = parsed.query_type if kind == "query" else parsed.mutation_type
    fields = [name for name in root.fields if name != "importOpportunities"]
    strategy = from_schema(schema_sdl, fields=fields, custom_scalars=SCALARS)

    @settings(max_examples=n, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(document):
        found.append(document if isinstance(document, str) else str(document))

    collect()
    return [d for d in found if d.lstrip().startswith("mutation" if kind == "mutation" else ("{", "query"))]


def ok_response(r: httpx.Response) -> str | None:
    """Why the response is unacceptable, or None."""
    if r.status_code >= 500:
        return f"HTTP {r.status_code}"
    if r.status_code != 200:
        return None if r.status_code in (400, 413, 429) else f"HTTP {r.status_code}"
    body = r.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            return "server error: " + error["message"]
        if "Traceback" in error["message"] or "sqlalchemy" in error["message"].lower() or "asyncpg" in error["message"].lower():
            return "unmasked error: " + error["message"]
    return None


async def test_fuzz_queries_and_mutations(database_url, clock, org, backend):
    settings_ = Settings(database_url=database_url, broadcast_url="memory://", rate_limit_enabled=False)
    sdl = hardened_schema(settings_).as_str()
    app = create_app(settings_, migrate=False, clock=clock)
    cases = documents("mutation", sdl, EXAMPLES) + documents("query", sdl, EXAMPLES)
    problems = []
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as c:
            for i, document in enumerate(cases):
                who = ("sales_admin", "sales_member", "legal_member", "sales_viewer")[i % 4]
                r = await c.post("/graphql", json={"query": document}, headers={"authorization": f"Bearer {org.tokens[who]}"})
                why = ok_response(r)
                if why:
                    problems.append((why, document[:300]))
    stats = await check_invariants(org.db, [org.id])
    RUN[backend] = len(cases)
    print(f"fuzz[{backend}]: {len(cases)} cases, {stats['events']} events written, {len(problems)} problems")
    assert not problems, problems[:5]
