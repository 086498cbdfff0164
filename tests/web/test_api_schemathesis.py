"""schemathesis against the generated OpenAPI document: no input, however odd, gets a server error.

Every operation of /api/v1/openapi.json gets a bounded number of generated requests, sent as the
admin (who sees every case and may call every endpoint, so requests reach the deepest code paths).
Each response must not be a 5xx, must have a documented status and content type, and must match
its documented schema. All of it runs inside the test's rolled-back transaction.
"""
from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from engine.org.auth import issue_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 10
# Public: random credentials are rightly refused.
UNAUTHENTICATED_OK = {"POST /api/v1/auth/token"}


def test_every_operation_answers_generated_requests_without_server_errors(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    services = app.extensions["pingan"]

    def fresh_headers() -> dict:
        with services.session() as s:
            return {"Authorization": f"Bearer {issue_token(s, username='admin', label='schemathesis')}"}

    headers = fresh_headers()

    failures, statuses = [], Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case):
            nonlocal headers
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses[(operation.label, response.status_code)] += 1
            if response.status_code == 401 and operation.label not in UNAUTHENTICATED_OK:
                headers = fresh_headers()  # the request revoked its own token; carry on with a new one

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(operations) >= 40
    # Every operation was really reached past authentication.
    unreached = {op.label for op in operations if op.label not in UNAUTHENTICATED_OK
                 and not any(label == op.label and status != 401 for label, status in statuses)}
    assert not unreached, unreached
