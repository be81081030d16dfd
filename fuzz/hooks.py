"""Schemathesis checks for contactgraph's GraphQL endpoint.

`error_contract` passes a response when the gateway did not fail (no 5xx) and every
GraphQL error carries an `extensions.code` from the closed set in README.md ("Errors").
Expected outcomes such as NOT_FOUND or BAD_USER_INPUT are errors by design, so the stock
`not_a_server_error` check, which counts any resolver error as a failure, is not used.
"""

import schemathesis

CODES = {
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "UPSTREAM_UNAVAILABLE",
    "UPSTREAM_RATE_LIMITED",
    "UPSTREAM_AUTH",
    "UPSTREAM_REJECTED",
    "AMBIGUOUS",
    "STORE_UNAVAILABLE",
    "IDEMPOTENCY_KEY_REUSED",
    "IDEMPOTENCY_IN_PROGRESS",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "OPERATION_LIMIT_EXCEEDED",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "INTERNAL",
}


@schemathesis.check
def error_contract(ctx, response, case):
    assert response.status_code < 500, f"server error: HTTP {response.status_code}"
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in CODES, f"an error without a known code: {error}"
