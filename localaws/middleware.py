"""The localaws WSGI app: moto's server wrapped with what moto lacks or gets wrong (X-Ray encryption config and
trace segment destination, CloudWatch Logs key association, KMS key lifecycle, the Regions an account has enabled
(Account Management and ec2:DescribeRegions), Security Hub findings, CloudTrail's organization trails and default
selectors), a call log, injected faults and the ``/_localaws/*`` control endpoints.

Every AWS request goes through latency, then throttling (X-Ray and KMS), then ``--fail`` rules, then the
emulated operations, then moto.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.test import Client
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

from localaws import cloudtrail, kms, logs, moto_bridge, regions, securityhub, transaction_search, xray
from localaws.calls import CallLog
from localaws.faults import FaultInjector, FaultSettings
from localaws.protocol import AwsRequest, error_response

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

CONTROL_PREFIX = "/_localaws/"

# Messages of the injected throttling errors. KMS's is its documented text
# (https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html); X-Ray's is not documented.
_THROTTLE_MESSAGES = {
    "kms": "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
    "xray": "Rate exceeded",
}
# KMS parameters that may name an AWS managed key by its reserved alias (alias/aws/xray).
_KMS_KEY_PARAMS = ("KeyId", "TargetKeyId", "DestinationKeyId")


class LocalAWSApp:
    """WSGI app. ``calls`` and ``faults`` are the live state reachable over HTTP; ``xray``,
    ``trace_destinations``, ``logs_keys``, ``kms``, ``security_hub`` and ``regions`` hold the emulated services' own
    state."""

    def __init__(
        self,
        settings: FaultSettings | None = None,
        *,
        moto_app: WSGIApplication | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.calls = CallLog()
        self.faults = FaultInjector(settings or FaultSettings())
        self.xray = xray.XRayEncryption(moto_bridge.find_kms_key, clock=clock)
        self.trace_destinations = transaction_search.TraceSegmentDestinations(moto_bridge.find_kms_key, clock=clock)
        self.logs_keys = logs.LogsKeys(moto_bridge.find_kms_key)
        self.kms = kms.KeyLifecycle()
        self.security_hub = securityhub.SecurityHubFindings(moto_bridge.security_hub_enabled)
        self.cloudtrail = cloudtrail.CloudTrailReads()
        self.regions = regions.RegionOptIn()
        self._moto = moto_app or moto_bridge.create_moto_app()
        self._sleep = sleep

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(Request(environ))(environ, start_response)
        if path.startswith("/moto-api"):
            return self._moto(environ, start_response)
        return self._aws(environ, start_response)

    def reset(self) -> None:
        """moto's state (through its own ``/moto-api/reset``), emulated state, call log and faults."""
        Client(self._moto).post("/moto-api/reset")
        self.xray.reset()
        self.trace_destinations.reset()
        self.logs_keys.reset()
        self.kms.reset()
        self.security_hub.reset()
        self.regions.reset()
        self.calls.clear()
        self.faults.reset()

    def _aws(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = AwsRequest.from_wsgi(environ, _buffer_body(environ))
        caller = moto_bridge.account_for(request.access_key, environ.get("HTTP_X_MOTO_ACCOUNT_ID"))
        settings = self.faults.settings
        if settings.latency_ms > 0:
            self._sleep(settings.latency_ms / 1000.0)
        log = {
            "service": request.service,
            "operation": request.operation,
            "account": caller,
            "region": request.region,
        }

        throttled = self.faults.throttles(request)
        if throttled is not None:
            self.calls.record(**log, fault="throttled")
            code, status = throttled
            message = _THROTTLE_MESSAGES.get(request.service, "Rate exceeded")
            return error_response(request, code, message, status)(environ, start_response)

        failure = self.faults.failure(request, caller)
        if failure is not None:
            self.calls.record(**log, fault="failed")
            code, status = failure
            message = f"localaws: injected failure of {request.service}:{request.operation}"
            return error_response(request, code, message, status)(environ, start_response)

        self.calls.record(**log)
        response = self._emulated(request, caller, settings)
        if response is not None:
            return response(environ, start_response)
        if request.service == "kms":
            self._prepare_managed_keys(request, caller)
            if request.operation == "CreateKey":
                defaults = kms.create_key_defaults(request.params)
                if defaults is not None:
                    _replace_body(environ, json.dumps(defaults).encode())
            owner = _cross_account_key_owner(request, caller)
            if owner is not None:
                environ["HTTP_X_MOTO_ACCOUNT_ID"] = owner  # moto's own override of the account it acts in
        return self._moto(environ, start_response)

    def _emulated(self, request: AwsRequest, caller: str, settings: FaultSettings) -> Response | None:
        """The answer of an operation localaws serves itself, or None for moto to serve."""
        service, operation = request.service, request.operation
        if service == "xray" and operation in xray.OPERATIONS:
            return self.xray.handle(request, caller, settings.updating_seconds)
        if service == "xray" and operation in transaction_search.OPERATIONS:
            available = not self.faults.lacks_transaction_search(request.region)
            return self.trace_destinations.handle(request, caller, settings.updating_seconds, available)
        if service == "logs" and operation in logs.OPERATIONS:
            return self.logs_keys.handle(request, caller)
        if service == "logs" and operation == "CreateLogGroup":
            return self.logs_keys.refuse_create(request, caller)
        if service == "kms" and operation in kms.OPERATIONS:
            return self.kms.handle(request, caller)
        if service == "securityhub" and operation in securityhub.OPERATIONS:
            return self.security_hub.handle(request, caller)
        if service == "account" and operation in regions.ACCOUNT_OPERATIONS:
            return self.regions.handle(request, caller)
        if service == "ec2" and operation in regions.EC2_OPERATIONS:
            return self.regions.describe_regions(request, caller)
        if service == "cloudtrail" and operation in cloudtrail.OPERATIONS:
            return self.cloudtrail.handle(request, caller)
        return None

    def _prepare_managed_keys(self, request: AwsRequest, caller: str) -> None:
        """Make an ``alias/aws/*`` named in a KMS call an AWS managed key before moto sees it, so that moto's
        DescribeKey reports ``KeyManager: AWS`` even when the alias is used for the first time."""
        for name in _KMS_KEY_PARAMS:
            value = request.param(name)
            if value and "alias/aws/" in value:
                location = moto_bridge.KeyLocation.parse(value, caller, request.region)
                moto_bridge.ensure_aws_managed_key(location)

    def _control(self, request: Request) -> Response:
        endpoint = (request.method, request.path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        if endpoint == ("GET", "calls"):
            return _json(self.calls.entries())
        if endpoint == ("POST", "reset"):
            self.reset()
            return _json({"status": "ok"})
        if endpoint == ("GET", "faults"):
            return _json(self.faults.settings.to_json())
        if endpoint == ("POST", "faults"):
            changes = request.get_json(force=True, silent=True)
            if not isinstance(changes, dict):
                return _json({"error": "expected a JSON object"}, 400)
            try:
                return _json(self.faults.update(changes).to_json())
            except ValueError as error:
                return _json({"error": str(error)}, 400)
        if endpoint == ("GET", "published"):
            try:
                sent = moto_bridge.published(request.args.get("topic", ""))
            except ValueError as error:
                return _json({"error": str(error)}, 400)
            return _json([dataclasses.asdict(notification) for notification in sent])
        if endpoint == ("GET", "health"):
            return _json({"status": "ok"})
        return _json({"error": f"no control endpoint {request.method} {request.path}"}, 404)


# KMS operations that accept another account's key by key ARN ("Cross-account use: Yes" in each operation's page of
# the AWS KMS API Reference; the botocore kms model's KeyId documentation: "To specify a KMS key in a different
# Amazon Web Services account, you must use the key ARN or alias ARN"). moto serves every account from its own
# backend, so such a request is routed to the key owner's account. The key policy is not evaluated (assumption: it
# allows the caller, as the README's central-key set-up requires).
_CROSS_ACCOUNT_KMS_OPERATIONS = frozenset(
    {"DescribeKey", "GetKeyRotationStatus", "CreateGrant", "Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt"}
)


def _cross_account_key_owner(request: AwsRequest, caller: str) -> str | None:
    key_id = request.param("KeyId")
    if request.operation not in _CROSS_ACCOUNT_KMS_OPERATIONS or not key_id or not key_id.startswith("arn:"):
        return None
    parts = key_id.split(":")
    owner = parts[4] if len(parts) > 5 else None
    return owner if owner and owner != caller else None


def _buffer_body(environ: WSGIEnvironment) -> bytes:
    """Read the body once (werkzeug handles Content-Length and chunked input) and put it back for moto."""
    body: bytes = get_input_stream(environ).read()
    _replace_body(environ, body)
    return body


def _replace_body(environ: WSGIEnvironment, body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _json(document: object, status: int = 200) -> Response:
    return Response(json.dumps(document), status, content_type="application/json")
