"""Adapter for X-Ray's second trace store: the trace segment destination (X-Ray) and the `aws/spans` log group's
KMS key (CloudWatch Logs), over the clients it is given. Domain values out.

Sources: botocore xray model (GetTraceSegmentDestination: Destination XRay | CloudWatchLogs, Status PENDING |
ACTIVE, no key), botocore logs model (DescribeLogGroups → LogGroup.kmsKeyId; AssociateKmsKey takes the key ARN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.domain import SPANS_LOG_GROUP, SpansDestination, SpansState
from chalicelib.errors import AwsCallError
from chalicelib.sessions import call_aws

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_xray import XRayClient

# How a region without Transaction Search answers. Unsure: AWS documents no error for this (the GovCloud user guide
# says only "Transaction Search is not available"); an operation a region's endpoint does not serve answers
# UnknownOperationException on rest-json services, and botocore raises UnknownEndpointError / EndpointResolutionError
# when it cannot resolve an endpoint at all. Any other error is an error, never "unavailable".
UNAVAILABLE_CODES = frozenset(
    {"UnknownOperationException", "UnknownOperation", "UnknownEndpointError", "EndpointResolutionError"}
)


def logs_key_statement(
    partition: str = "${AWS::Partition}",
    region: str = "${AWS::Region}",
    account: str = "${AWS::AccountId}",
    url_suffix: str = "${AWS::URLSuffix}",
) -> dict[str, Any]:
    """The key-policy statement that lets CloudWatch Logs use the approved key for `aws/spans` only.

    From "Encrypt log data in CloudWatch Logs using AWS KMS" (CloudWatch Logs user guide): the regional logs service
    principal, the five action groups, and the encryption context naming the log group ARN (no trailing ":*").
    The defaults are CloudFormation substitutions, as the alert quotes it and the member template uses it.
    """
    group_arn = f"arn:{partition}:logs:{region}:{account}:log-group:{SPANS_LOG_GROUP}"
    return {
        "Sid": "AllowCloudWatchLogsForSpans",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.{url_suffix}"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
    }


class SpansStore:
    """Reads where X-Ray sends spans and how `aws/spans` is encrypted; puts the approved key on `aws/spans`."""

    def __init__(self, xray: XRayClient, logs: Callable[[], CloudWatchLogsClient]) -> None:
        self._xray = xray
        self._logs_client = logs  # made on first use: with Transaction Search off an event never reads the group

    @property
    def _logs(self) -> CloudWatchLogsClient:
        # Asked of the factory (which caches the client) each time, not a functools.cached_property: on Python 3.11
        # that holds one lock per class, so every region thread of every account waited for the others' builds.
        return self._logs_client()

    def read(self, *, log_group_when_off: bool) -> SpansState:
        """The store's state. The log group is read when spans go to it, or (`log_group_when_off`, sweep and audit)
        to find a dormant `aws/spans` left from an earlier Transaction Search."""
        try:
            answer = call_aws("xray", "GetTraceSegmentDestination", self._xray.get_trace_segment_destination)
        except AwsCallError as e:
            if e.code in UNAVAILABLE_CODES:
                return SpansState(SpansDestination.UNAVAILABLE, None)
            raise
        destination = SpansDestination(answer.get("Destination", "XRay"))
        status = answer.get("Status")
        if destination is SpansDestination.XRAY and not log_group_when_off:
            return SpansState(destination, status)
        exists, key = self.log_group()
        return SpansState(destination, status, group_read=True, group_exists=exists, key_arn=key)

    def log_group(self) -> tuple[bool, str | None]:
        """Whether `aws/spans` exists, and its KMS key ARN (None: CloudWatch Logs' default encryption)."""
        answer: Any = call_aws(
            "logs",
            "DescribeLogGroups",
            lambda: self._logs.describe_log_groups(logGroupNamePrefix=SPANS_LOG_GROUP),
        )
        for group in answer.get("logGroups", []):
            if group.get("logGroupName") == SPANS_LOG_GROUP:  # a prefix match also finds aws/spans-*
                return True, group.get("kmsKeyId") or None
        return False, None

    def associate(self, key_arn: str) -> None:
        """Put the key on `aws/spans`: it protects spans ingested from then on (CloudWatch Logs: within 5 minutes;
        earlier spans stay as they were until they expire)."""
        call_aws(
            "logs",
            "AssociateKmsKey",
            lambda: self._logs.associate_kms_key(logGroupName=SPANS_LOG_GROUP, kmsKeyId=key_arn),
        )
