"""X-Ray's trace segment destination (``GetTraceSegmentDestination`` / ``UpdateTraceSegmentDestination``), which
moto lacks: where X-Ray stores spans, in X-Ray itself or, with CloudWatch Transaction Search, in the CloudWatch Logs
log group ``aws/spans``.

Wire contract, from botocore data/xray/2016-04-12/service-2.json (protocol rest-json): ``POST
/GetTraceSegmentDestination`` and ``POST /UpdateTraceSegmentDestination``; both answer ``Destination`` (``XRay`` |
``CloudWatchLogs``) and ``Status`` (``PENDING`` | ``ACTIVE``), and model only ``InvalidRequestException`` and
``ThrottledException``. State is kept per (account, region), like the encryption config (``localaws.xray``):
"Transaction Search is configured for the entire account" and per region (CloudWatch user guide, "Enable
Transaction Search").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.wrappers import Response

from localaws import moto_bridge
from localaws.logs import KEY_ARN, KeyFinder, KeyPolicyDenies, KeyUnusable, check_log_group_key, log_group_arn
from localaws.protocol import AwsRequest, error_response, json_response
from localaws.xray import InvalidRequestError, RegionalSettings, Setting

OPERATIONS = frozenset({"GetTraceSegmentDestination", "UpdateTraceSegmentDestination"})
SPANS_LOG_GROUP = "aws/spans"
DESTINATIONS = ("XRay", "CloudWatchLogs")

# How a region without Transaction Search answers. Assumption: AWS documents no answer. A service endpoint that
# does not serve an operation in a region answers UnknownOperationException, HTTP 404 (e.g. SageMaker: "The
# requested operation is not supported in the called region", github.com/hashicorp/terraform-provider-aws/pull/
# 27258; DynamoDB ListBackups in eu-west-3, github.com/boto/boto3/issues/1542; 404 is the default of AWS's service
# framework for an unclaimed request, github.com/smithy-lang/smithy/issues/1368). The other real outcome, no
# endpoint at all, cannot be served by an HTTP emulator.
UNAVAILABLE_CODE = "UnknownOperationException"
UNAVAILABLE_STATUS = 404
UNAVAILABLE_MESSAGE = "The requested operation is not supported in the called region."


class TraceSegmentDestinations:
    """The destination of every (account, region). ``Status`` is worked out on read from a monotonic clock: an
    update stays ``PENDING`` for ``updating_seconds`` (the same switch as the encryption config's ``UPDATING``)."""

    def __init__(
        self, find_key: KeyFinder = moto_bridge.find_kms_key, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._find_key = find_key
        self._settings: RegionalSettings[str] = RegionalSettings(clock)
        self._lock = threading.Lock()  # one update at a time: it may create aws/spans first

    def handle(self, request: AwsRequest, account: str, updating_seconds: float, available: bool) -> Response:
        if not available:
            return error_response(request, UNAVAILABLE_CODE, UNAVAILABLE_MESSAGE, UNAVAILABLE_STATUS)
        try:
            if request.operation == "UpdateTraceSegmentDestination":
                answer = self.update(account, request.region, request.params, updating_seconds)
            else:
                answer = self.get(account, request.region)
        except InvalidRequestError as error:
            return error_response(request, "InvalidRequestException", str(error), 400)
        return json_response(answer)

    def get(self, account: str, region: str) -> dict[str, str]:
        setting = self._settings.get(account, region)
        if setting is None:
            # Never changed: X-Ray keeps the spans (Transaction Search is off until enabled; CloudWatch user guide,
            # "Enable Transaction Search").
            return {"Destination": "XRay", "Status": "ACTIVE"}
        return self._render(setting)

    def update(self, account: str, region: str, params: Mapping[str, Any], updating_seconds: float) -> dict[str, str]:
        destination = params.get("Destination")
        if destination not in DESTINATIONS:
            # Assumption: the model marks no member required; an update without a destination is refused.
            raise InvalidRequestError(f"Destination must be XRay or CloudWatchLogs, got {destination!r}")
        configuration = params.get("CloudWatchLogsConfiguration")
        if configuration is not None and not isinstance(configuration, dict):
            raise InvalidRequestError("CloudWatchLogsConfiguration must be an object")
        key_ref = (configuration or {}).get("SpansLogGroupKmsKeyId")
        if configuration is not None and destination != "CloudWatchLogs":
            # "Specify this only when Destination is CloudWatchLogs" (UpdateTraceSegmentDestinationRequest);
            # assumption: X-Ray refuses it otherwise rather than ignoring it.
            raise InvalidRequestError("CloudWatchLogsConfiguration is only valid with Destination CloudWatchLogs")
        with self._lock:
            if destination == "CloudWatchLogs":
                self._prepare_spans_log_group(account, region, key_ref)
            setting = self._settings.put(account, region, destination, updating_seconds)
        # Assumption: like PutEncryptionConfig's UPDATING, the answer says PENDING and reads turn ACTIVE later.
        return self._render(setting, status="PENDING")

    def reset(self) -> None:
        self._settings.reset()

    def _prepare_spans_log_group(self, account: str, region: str, key_ref: object) -> None:
        """Create ``aws/spans`` (with the key, if one is given) unless it exists.

        Assumption: X-Ray creates the group when the destination is switched (the model says only "X-Ray applies
        the key only when it creates aws/spans"; the getting-started page's role may create it, logs:CreateLogGroup
        on aws/spans). An existing group is kept as it is.
        """
        existing = moto_bridge.find_log_group(account, region, SPANS_LOG_GROUP)
        if key_ref is None:
            if existing is None:
                _create_spans_log_group(account, region, None)
            return
        # CloudWatchLogsConfiguration.SpansLogGroupKmsKeyId (botocore xray model): "The ARN of an AWS KMS key that
        # you create and manage, in the same account and Region ... Key IDs and alias ARNs are not supported."
        match = KEY_ARN.match(key_ref) if isinstance(key_ref, str) else None
        if match is None:
            raise InvalidRequestError(
                "SpansLogGroupKmsKeyId must be a KMS key ARN (key IDs and alias ARNs are not supported), "
                f"got {key_ref!r}"
            )
        if (match["account"], match["region"]) != (account, region):
            raise InvalidRequestError(
                f"SpansLogGroupKmsKeyId {key_ref} must be a key in the same account ({account}) and Region ({region})"
            )
        if existing is not None:
            # "If the account already has an aws/spans log group, X-Ray fails the request with an
            # InvalidRequestException and does not change the log group."
            raise InvalidRequestError(
                f"The log group {SPANS_LOG_GROUP} already exists; call UpdateTraceSegmentDestination without "
                "SpansLogGroupKmsKeyId to keep it as it is, or use CloudWatch Logs AssociateKmsKey to set its key"
            )
        try:
            # "the key policy must allow CloudWatch Logs to use the key" (same shape). Assumption: X-Ray reports a
            # key CloudWatch Logs cannot use as InvalidRequestException, its only modelled error.
            group_arn = log_group_arn(account, region, SPANS_LOG_GROUP)
            key = check_log_group_key(key_ref, account, region, group_arn, self._find_key)
        except (KeyUnusable, KeyPolicyDenies) as error:
            raise InvalidRequestError(f"SpansLogGroupKmsKeyId cannot be used for {SPANS_LOG_GROUP}: {error}") from None
        _create_spans_log_group(account, region, key.arn)

    def _render(self, setting: Setting[str], status: str | None = None) -> dict[str, str]:
        status = status or ("ACTIVE" if self._settings.active(setting) else "PENDING")
        return {"Destination": setting.value, "Status": status}


def _create_spans_log_group(account: str, region: str, key_arn: str | None) -> None:
    try:
        moto_bridge.create_log_group(account, region, SPANS_LOG_GROUP, key_arn)
    except ValueError as error:  # a region moto has no CloudWatch Logs in
        raise InvalidRequestError(f"X-Ray cannot create {SPANS_LOG_GROUP}: {error}") from None
