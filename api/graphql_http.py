"""GraphQL over HTTP as the specification words it (graphql.github.io/graphql-over-http):
`application/graphql-response+json` when the client accepts it, with 4xx statuses
and no `data` entry for request errors (a document that does not parse or validate,
variables that do not coerce); `application/json` keeps the older 200 behaviour, as
the specification requires. A mutation over GET is 405 with `Allow: POST`.
tests/api/test_graphql_http.py runs the specification's audit (npm graphql-http)."""
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def preferred_media_type(accept: str | None) -> str:
    """The response media type for an Accept header: graphql-response+json when it is
    accepted at least as much as application/json, else application/json."""
    weights = {}
    for part in (accept or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = next((float(p[2:]) for p in params if p.startswith("q=") and _number(p[2:])), 1.0)
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    response_q = weights.get(GRAPHQL_RESPONSE, 0.0)
    json_q = max(weights.get(JSON, 0.0), weights.get("*/*", 0.0), weights.get("application/*", 0.0))
    return GRAPHQL_RESPONSE if response_q > 0 and response_q >= json_q else JSON


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_request_error(response: dict) -> bool:
    """No execution happened: errors without a `path` and no data (a field error that
    nulls the whole result has a path and stays a 200)."""
    errors = response.get("errors") or []
    return response.get("data") is None and bool(errors) and all(not e.get("path") for e in errors)
