"""Helpers of the tests that call localaws directly (not through the world's people): clients that try once, and
the AWS error a call raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

# One attempt: an error the test expects (or a 500 from moto) would otherwise be retried: more calls, each logged.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
# And without botocore's own checks of the request, so that malformed requests reach localaws's checks.
UNCHECKED = NO_RETRIES.merge(Config(parameter_validation=False))


def error_of(call: Callable[[], object]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of the ClientError the call raises; the test fails if it raises none."""
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]
