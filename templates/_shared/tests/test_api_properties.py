"""Property-based tests generated from the service's own OpenAPI document (schemathesis):
no request to any endpoint, valid or not, gets a 5xx or an answer the document does not
describe."""

import math
import signal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .test_serve import start


@pytest.fixture(scope="module")
def api_schema(artifacts):
    process, url = start(artifacts)
    yield schemathesis.openapi.from_url(f"{url}/openapi.json")
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def with_data_for_its_shape(case: schemathesis.Case) -> schemathesis.Case:
    """An infer request whose data holds as many numbers as its shape says.

    The document says so in words: JSON Schema cannot tie one field's length to another's.
    """
    if isinstance(case.body, dict) and "inputs" in case.body:
        for tensor in case.body["inputs"]:
            count = int(math.prod(tensor["shape"]))
            tensor["data"] = (tensor["data"] + [0.0] * count)[:count]
    return case


def checks_left_out(case: schemathesis.Case) -> list:
    """The checks a case's answer is held to: a binary body's layout (a JSON header that
    long, then its bytes) is in the document's words only, so random bytes may be refused."""
    return [positive_data_acceptance] if case.media_type == "application/octet-stream" else []


def test_no_request_gets_a_5xx_or_an_undocumented_answer(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 16  # every endpoint: health, metrics, v1 and v2, versioned
    for operation in operations:

        @given(case=operation.as_strategy().map(with_data_for_its_shape))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(excluded_checks=checks_left_out(case))

        answers_as_documented()
