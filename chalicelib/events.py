"""EventBridge envelope and CloudTrail record models for X-Ray PutEncryptionConfig.

The event is only a trigger: nothing here is trusted to describe the live state. The envelope's `account`
and `region` say where to look; the record says who acted and whether the call failed.
Shapes: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
and https://docs.aws.amazon.com/eventbridge/latest/ref/events-structure.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.domain import SPANS_LOG_GROUP, Actor
from chalicelib.errors import EventRejected

# The one event pattern: app.py's rule on the central bus and the member accounts' forwarding rules use exactly this
# (tests/test_events.py and tests/test_infra.py assert it). `$or` and `suffix` are EventBridge content filters
# ("Content filtering in Amazon EventBridge event patterns", EventBridge user guide). Branches:
# - X-Ray: the encryption config, and the trace segment destination (Transaction Search on or off);
# - CloudWatch Logs calls on the log group `aws/spans`, named by `logGroupName` or (AssociateKmsKey and
#   DisassociateKmsKey only) by `resourceIdentifier`, the log group ARN (botocore logs model,
#   AssociateKmsKeyRequest.resourceIdentifier). No other log group matches.
XRAY_EVENTS = ("PutEncryptionConfig", "UpdateTraceSegmentDestination")
LOGS_EVENTS = ("AssociateKmsKey", "DisassociateKmsKey", "DeleteLogGroup", "CreateLogGroup")
LOGS_KEY_EVENTS = ("AssociateKmsKey", "DisassociateKmsKey")
CLOUDTRAIL = "AWS API Call via CloudTrail"
PATTERN: dict[str, Any] = {
    "detail-type": [CLOUDTRAIL],
    "$or": [
        {"source": ["aws.xray"], "detail": {"eventSource": ["xray.amazonaws.com"], "eventName": list(XRAY_EVENTS)}},
        {
            "source": ["aws.logs"],
            "detail": {
                "eventSource": ["logs.amazonaws.com"],
                "eventName": list(LOGS_EVENTS),
                "requestParameters": {"logGroupName": [SPANS_LOG_GROUP]},
            },
        },
        {
            "source": ["aws.logs"],
            "detail": {
                "eventSource": ["logs.amazonaws.com"],
                "eventName": list(LOGS_KEY_EVENTS),
                "requestParameters": {
                    "resourceIdentifier": [
                        {"suffix": f":log-group:{SPANS_LOG_GROUP}"},
                        {"suffix": f":log-group:{SPANS_LOG_GROUP}:*"},
                    ]
                },
            },
        },
    ],
}
_SOURCES = {"aws.xray": ("xray.amazonaws.com", XRAY_EVENTS), "aws.logs": ("logs.amazonaws.com", LOGS_EVENTS)}

_ACCOUNT = r"^[0-9]{12}$"  # [0-9], not \d: pydantic's regex engine matches every Unicode digit with \d
_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/(.+)$")
_MAX_FIELD = 2048  # CloudTrail ARNs and user agents are far shorter; longer input is hostile or corrupt


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SessionIssuer(_Model):
    type: str | None = None
    arn: str | None = Field(default=None, max_length=_MAX_FIELD)
    user_name: str | None = Field(default=None, alias="userName", max_length=_MAX_FIELD)


class SessionContext(_Model):
    session_issuer: SessionIssuer | None = Field(default=None, alias="sessionIssuer")


class UserIdentity(_Model):
    type: str = Field(max_length=64)
    arn: str | None = Field(default=None, max_length=_MAX_FIELD)
    account_id: str | None = Field(default=None, alias="accountId")
    session_context: SessionContext | None = Field(default=None, alias="sessionContext")
    invoked_by: str | None = Field(default=None, alias="invokedBy", max_length=_MAX_FIELD)


class RequestParameters(_Model):
    type: str | None = Field(default=None, max_length=16)
    key_id: str | None = Field(default=None, alias="keyId", max_length=_MAX_FIELD)
    log_group_name: str | None = Field(default=None, alias="logGroupName", max_length=_MAX_FIELD)
    resource_identifier: str | None = Field(default=None, alias="resourceIdentifier", max_length=_MAX_FIELD)


class CloudTrailRecord(_Model):
    """The `detail` of an "AWS API Call via CloudTrail" event (only the fields xray-guard reads)."""

    event_version: str | None = Field(default=None, alias="eventVersion")
    event_id: str = Field(alias="eventID", min_length=1, max_length=128)
    event_time: str = Field(alias="eventTime", max_length=64)
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    user_identity: UserIdentity = Field(alias="userIdentity")
    user_agent: str = Field(default="", alias="userAgent", max_length=_MAX_FIELD)
    source_ip: str | None = Field(default=None, alias="sourceIPAddress", max_length=_MAX_FIELD)
    error_code: str | None = Field(default=None, alias="errorCode", max_length=_MAX_FIELD)
    error_message: str | None = Field(default=None, alias="errorMessage")
    request_parameters: RequestParameters | None = Field(default=None, alias="requestParameters")
    session_from_console: str | None = Field(default=None, alias="sessionCredentialFromConsole", max_length=16)


class Envelope(_Model):
    """The EventBridge envelope. `version` is "0" on the wire (chalice's test client sends the int 0)."""

    version: str
    id: str = Field(min_length=1, max_length=128)
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = Field(pattern=_ACCOUNT)
    region: str = Field(pattern=_REGION)
    time: str | None = None
    detail: CloudTrailRecord

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_str(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class EncryptionChange:
    """A parsed, validated trigger: someone called PutEncryptionConfig in `account`/`region`."""

    event_id: str  # the EventBridge event id
    cloudtrail_event_id: str
    event_time: str
    account: str
    region: str
    actor: Actor
    error_code: str | None
    requested_type: str | None
    requested_key: str | None
    event_source: str = "xray.amazonaws.com"
    event_name: str = "PutEncryptionConfig"
    log_group: str | None = None  # the log group a CloudWatch Logs event names

    @property
    def about_spans(self) -> bool:
        """A change of the second store: the trace segment destination, or the `aws/spans` log group."""
        return self.event_name == "UpdateTraceSegmentDestination" or self.event_source == "logs.amazonaws.com"

    @property
    def about_other_log_group(self) -> bool:
        return self.event_source == "logs.amazonaws.com" and self.log_group != SPANS_LOG_GROUP


def parse_change(event: Mapping[str, Any]) -> EncryptionChange:
    """Parse a raw EventBridge event; raise EventRejected (with a reason) for anything else."""
    if not isinstance(event, Mapping):
        raise EventRejected(f"event is a {type(event).__name__}, not a JSON object")
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "event"
        raise EventRejected(f"malformed event at {where}: {first['msg']} ({e.error_count()} problem(s))") from e
    record = envelope.detail
    if envelope.detail_type != CLOUDTRAIL:
        raise EventRejected(f"detail-type is {envelope.detail_type[:80]!r}, expected {CLOUDTRAIL!r}")
    if envelope.source not in _SOURCES:
        raise EventRejected(f"source is {envelope.source[:80]!r}, expected one of {sorted(_SOURCES)}")
    event_source, names = _SOURCES[envelope.source]
    if record.event_source != event_source:
        raise EventRejected(f"detail.eventSource is {record.event_source[:80]!r}, expected {event_source!r}")
    if record.event_name not in names:
        raise EventRejected(f"detail.eventName is {record.event_name[:80]!r}, expected one of {list(names)}")
    params = record.request_parameters
    return EncryptionChange(
        event_id=envelope.id,
        cloudtrail_event_id=record.event_id,
        event_time=record.event_time,
        account=envelope.account,
        region=envelope.region,
        actor=actor_from(record),
        error_code=record.error_code,
        requested_type=params.type if params else None,
        requested_key=params.key_id if params else None,
        event_source=record.event_source,
        event_name=record.event_name,
        log_group=_log_group(params) if record.event_source == "logs.amazonaws.com" else None,
    )


def _log_group(params: RequestParameters | None) -> str | None:
    """The log group a CloudWatch Logs call names: `logGroupName`, or the name inside a `resourceIdentifier` ARN
    (arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME, optionally followed by ":*")."""
    if params is None:
        return None
    if params.log_group_name:
        return params.log_group_name
    arn = params.resource_identifier or ""
    if ":log-group:" not in arn:
        return None
    return arn.split(":log-group:", 1)[1].removesuffix(":*")


def actor_from(record: CloudTrailRecord) -> Actor:
    """Reduce userIdentity to who acted; for an assumed role, `principal_arn` is the role behind it."""
    identity = record.user_identity
    arn = identity.arn or (f"service:{identity.invoked_by}" if identity.invoked_by else "unknown")
    principal_arn = arn
    session_name = None
    assumed = _ASSUMED_ROLE.match(arn)
    if assumed:
        partition, account, role, session_name = assumed.groups()
        issuer = identity.session_context.session_issuer if identity.session_context else None
        # sessionIssuer.arn keeps the role's path; the assumed-role ARN drops it.
        principal_arn = issuer.arn if issuer and issuer.arn else f"arn:{partition}:iam::{account}:role/{role}"
    return Actor(
        arn=arn,
        type=identity.type,
        principal_arn=principal_arn,
        session_name=session_name,
        user_agent=record.user_agent,
        source_ip=record.source_ip,
        invoked_by=identity.invoked_by,
        from_console=record.session_from_console == "true",
    )
