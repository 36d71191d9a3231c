"""EventBridge envelope and CloudTrail record models for the calls xray-guard watches (one shared pattern).

The event is only a trigger: nothing here is trusted to describe the live state. The envelope's `account`
and `region` say where to look; the record says who acted and whether the call failed.
Shapes: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
and https://docs.aws.amazon.com/eventbridge/latest/ref/events-structure.html

An event is rejected only when what the check needs is unusable: the envelope's account and region, and what says
this is one of the calls the pattern names (source, detail-type, eventSource, eventName), or KMS's own
"KMS Imported Key Material Expiration" event (source aws.kms; "Monitor KMS keys with Amazon EventBridge", KMS
developer guide). Every other field is
informational and chosen by whoever made the call (the user agent above all): an over-long value is clipped (marked
"…[clipped]"), a missing or mistyped one is unknown (None), and neither is ever a reason to skip the re-read.
Rendering them safely is chalicelib.text's job; here they stay verbatim, so exemptions match what CloudTrail said.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from chalicelib.domain import SPANS_LOG_GROUP, Actor
from chalicelib.errors import EventRejected
from chalicelib.text import UNKNOWN, clip

# The one event pattern: app.py's rule on the central bus and the member accounts' forwarding rules use exactly this
# (tests/test_events.py and tests/test_infra.py assert it). `$or` and `suffix` are EventBridge content filters
# ("Content filtering in Amazon EventBridge event patterns", EventBridge user guide). Branches:
# - X-Ray: the encryption config, and the trace segment destination (Transaction Search on or off);
# - CloudWatch Logs calls on the log group `aws/spans`, named by `logGroupName` or (AssociateKmsKey and
#   DisassociateKmsKey only) by `resourceIdentifier`, the log group ARN (botocore logs model,
#   AssociateKmsKeyRequest.resourceIdentifier). No other log group matches;
# - KMS calls that change a key's lifecycle, policy, rotation or aliases (any key: which key it is, is decided after
#   parsing, chalicelib.service). Never CreateGrant, RetireGrant or a cryptographic call: AWS services make those
#   constantly on every key;
# - KMS's own event when imported key material expires (detail-type "KMS Imported Key Material Expiration").
# Each branch names its detail-type, since the last one is not a CloudTrail event.
XRAY_EVENTS = ("PutEncryptionConfig", "UpdateTraceSegmentDestination")
LOGS_EVENTS = ("AssociateKmsKey", "DisassociateKmsKey", "DeleteLogGroup", "CreateLogGroup")
LOGS_KEY_EVENTS = ("AssociateKmsKey", "DisassociateKmsKey")
KMS_KEY_EVENTS = (
    "DisableKey",
    "EnableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "DeleteImportedKeyMaterial",
    "PutKeyPolicy",
    "DisableKeyRotation",
)
KMS_ALIAS_EVENTS = ("CreateAlias", "UpdateAlias", "DeleteAlias")
KMS_EVENTS = KMS_KEY_EVENTS + KMS_ALIAS_EVENTS
CLOUDTRAIL = "AWS API Call via CloudTrail"
KEY_MATERIAL_EXPIRED = "KMS Imported Key Material Expiration"
PATTERN: dict[str, Any] = {
    "$or": [
        {
            "source": ["aws.xray"],
            "detail-type": [CLOUDTRAIL],
            "detail": {"eventSource": ["xray.amazonaws.com"], "eventName": list(XRAY_EVENTS)},
        },
        {
            "source": ["aws.logs"],
            "detail-type": [CLOUDTRAIL],
            "detail": {
                "eventSource": ["logs.amazonaws.com"],
                "eventName": list(LOGS_EVENTS),
                "requestParameters": {"logGroupName": [SPANS_LOG_GROUP]},
            },
        },
        {
            "source": ["aws.logs"],
            "detail-type": [CLOUDTRAIL],
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
        {
            "source": ["aws.kms"],
            "detail-type": [CLOUDTRAIL],
            "detail": {"eventSource": ["kms.amazonaws.com"], "eventName": list(KMS_EVENTS)},
        },
        {"source": ["aws.kms"], "detail-type": [KEY_MATERIAL_EXPIRED]},
    ],
}
_SOURCES = {
    "aws.xray": ("xray.amazonaws.com", XRAY_EVENTS),
    "aws.logs": ("logs.amazonaws.com", LOGS_EVENTS),
    "aws.kms": ("kms.amazonaws.com", KMS_EVENTS),
}
KMS_SOURCE = "kms.amazonaws.com"
# The CloudTrail event sources the shared pattern listens to: a trail must record all of them (event coverage).
CLOUDTRAIL_SOURCES = tuple(event_source for event_source, _names in _SOURCES.values())

_ACCOUNT = r"^[0-9]{12}$"  # [0-9], not \d: pydantic's regex engine matches every Unicode digit with \d
_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/(.+)$")
MAX_FIELD = 2048  # CloudTrail ARNs and user agents are far shorter; longer input is hostile or corrupt: clipped
_MAX_ID = 128  # event ids are UUIDs
_MAX_SHORT = 64  # identity types, event times, "true"/"false"


def _text(limit: int) -> BeforeValidator:
    """A field CloudTrail documents as a string: clipped when too long, unknown (None) when not a string."""

    def convert(value: object) -> str | None:
        return clip(value, limit) if isinstance(value, str) else None

    return BeforeValidator(convert)


def _object(value: object) -> object:
    """A nested element that is not a JSON object is treated as absent, not as a reason to reject."""
    return value if isinstance(value, Mapping) else None


Text = Annotated[str | None, _text(MAX_FIELD)]
Id = Annotated[str | None, _text(_MAX_ID)]
Short = Annotated[str | None, _text(_MAX_SHORT)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SessionIssuer(_Model):
    arn: Text = None


class SessionContext(_Model):
    session_issuer: Annotated[SessionIssuer | None, BeforeValidator(_object)] = Field(
        default=None, alias="sessionIssuer"
    )


class OnBehalfOf(_Model):
    """The IAM Identity Center user a request was made for (CloudTrail userIdentity element, IdentityCenterUser)."""

    user_id: Text = Field(default=None, alias="userId")
    identity_store_arn: Text = Field(default=None, alias="identityStoreArn")


class UserIdentity(_Model):
    type: Short = None
    arn: Text = None
    session_context: Annotated[SessionContext | None, BeforeValidator(_object)] = Field(
        default=None, alias="sessionContext"
    )
    invoked_by: Text = Field(default=None, alias="invokedBy")
    on_behalf_of: Annotated[OnBehalfOf | None, BeforeValidator(_object)] = Field(default=None, alias="onBehalfOf")


class RequestParameters(_Model):
    """What the caller asked for, read only to tell which key or log group the call was about: the state itself is
    re-read from the service (an alias call's new target too: KMS, not the record's targetKeyId, says where the alias
    points when the check runs)."""

    key_id: Text = Field(default=None, alias="keyId")
    log_group_name: Text = Field(default=None, alias="logGroupName")
    resource_identifier: Text = Field(default=None, alias="resourceIdentifier")
    alias_name: Text = Field(default=None, alias="aliasName")  # KMS CreateAlias, UpdateAlias, DeleteAlias


class ResponseElements(_Model):
    # KMS: "CloudTrail log entries for this operation recorded on or after December 2022 include the key ARN of the
    # affected KMS key in the responseElements.keyId value" (KMS developer guide, e.g. ct-disablekey).
    key_id: Text = Field(default=None, alias="keyId")


class Resource(_Model):
    """An element of the record's `resources` (CloudTrail record contents): KMS names the key, and for alias calls
    the alias too, both with type AWS::KMS::Key; only the ARN tells them apart, so only the ARN is read."""

    arn: Text = Field(default=None, alias="ARN")


def _resources(value: object) -> object:
    """A `resources` that is not a list of objects is treated as absent (informational, never a rejection)."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else None


class CloudTrailRecord(_Model):
    """The `detail` of an "AWS API Call via CloudTrail" event (only the fields xray-guard reads)."""

    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_id: Id = Field(default=None, alias="eventID")
    event_time: Short = Field(default=None, alias="eventTime")
    user_identity: Annotated[UserIdentity | None, BeforeValidator(_object)] = Field(default=None, alias="userIdentity")
    user_agent: Text = Field(default=None, alias="userAgent")
    source_ip: Text = Field(default=None, alias="sourceIPAddress")
    error_code: Text = Field(default=None, alias="errorCode")
    request_parameters: Annotated[RequestParameters | None, BeforeValidator(_object)] = Field(
        default=None, alias="requestParameters"
    )
    response_elements: Annotated[ResponseElements | None, BeforeValidator(_object)] = Field(
        default=None, alias="responseElements"
    )
    resources: Annotated[list[Resource] | None, BeforeValidator(_resources)] = None
    session_from_console: Short = Field(default=None, alias="sessionCredentialFromConsole")


class _EnvelopeBase(_Model):
    source: str
    detail_type: str = Field(alias="detail-type")
    account: str = Field(pattern=_ACCOUNT)
    region: str = Field(pattern=_REGION)
    id: Id = None
    time: Short = None


class Envelope(_EnvelopeBase):
    """The EventBridge envelope: `account`, `region`, `source` and `detail-type` are needed, the rest is not."""

    detail: CloudTrailRecord


class KeyMaterialDetail(_Model):
    key_id: Text = Field(default=None, alias="key-id")


class KeyMaterialEnvelope(_EnvelopeBase):
    """KMS's "KMS Imported Key Material Expiration" event: the key in `resources` (its ARN) and `detail.key-id`."""

    detail: Annotated[KeyMaterialDetail | None, BeforeValidator(_object)] = None
    resources: list[Annotated[str | None, _text(MAX_FIELD)]] = Field(default_factory=list)

    @field_validator("resources", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return value if isinstance(value, list) else []


@dataclass(frozen=True)
class EncryptionChange:
    """A parsed, validated trigger: someone called PutEncryptionConfig in `account`/`region`.

    Only `account` and `region` are guaranteed; every informational field may be None (unknown).
    """

    event_id: str | None  # the EventBridge event id
    cloudtrail_event_id: str | None
    event_time: str | None
    account: str
    region: str
    actor: Actor
    error_code: str | None
    event_source: str = "xray.amazonaws.com"
    event_name: str = "PutEncryptionConfig"
    log_group: str | None = None  # the log group a CloudWatch Logs event names
    # KMS events: the key the record names (the key ARN from `resources`, else responseElements.keyId, else
    # requestParameters.keyId: an id or ARN, these operations take no alias), and for alias calls the alias.
    key_ref: str | None = None
    alias_name: str | None = None

    @property
    def about_spans(self) -> bool:
        """A change of the second store: the trace segment destination, or the `aws/spans` log group."""
        return self.event_name == "UpdateTraceSegmentDestination" or self.event_source == "logs.amazonaws.com"

    @property
    def about_key(self) -> bool:
        """A change of a KMS key or alias (which key, and whether it matters, is decided later)."""
        return self.event_source == KMS_SOURCE

    @property
    def about_alias(self) -> bool:
        return self.event_name in KMS_ALIAS_EVENTS

    @property
    def about_other_log_group(self) -> bool:
        return self.event_source == "logs.amazonaws.com" and self.log_group != SPANS_LOG_GROUP


def parse_change(event: Mapping[str, Any]) -> EncryptionChange:
    """Parse a raw EventBridge event; raise EventRejected (with a reason) when the check cannot run on it."""
    if not isinstance(event, Mapping):
        raise EventRejected(f"event is a {type(event).__name__}, not a JSON object")
    if event.get("detail-type") == KEY_MATERIAL_EXPIRED:
        return _key_material_expired(event)
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as e:
        raise _malformed(e) from e
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
        # Only a failed call is skipped; an empty errorCode names no failure, so the re-read runs.
        error_code=record.error_code or None,
        event_source=record.event_source,
        event_name=record.event_name,
        log_group=_log_group(params) if record.event_source == "logs.amazonaws.com" else None,
        key_ref=_key_ref(record) if record.event_source == KMS_SOURCE else None,
        alias_name=params.alias_name if params and record.event_source == KMS_SOURCE else None,
    )


def _malformed(error: ValidationError) -> EventRejected:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "event"
    return EventRejected(f"malformed event at {where}: {first['msg']} ({error.error_count()} problem(s))")


def _key_ref(record: CloudTrailRecord) -> str | None:
    """The key a KMS record is about: the key ARN in `resources` (an alias call lists the alias too), else
    responseElements.keyId, else requestParameters.keyId."""
    for resource in record.resources or []:
        if resource.arn and ":key/" in resource.arn:
            return resource.arn
    if record.response_elements and record.response_elements.key_id:
        return record.response_elements.key_id
    return record.request_parameters.key_id if record.request_parameters else None


def _key_material_expired(event: Mapping[str, Any]) -> EncryptionChange:
    """KMS's own event: no caller (KMS itself deleted the expired material), the key from `resources` or
    `detail.key-id`."""
    try:
        envelope = KeyMaterialEnvelope.model_validate(event)
    except ValidationError as e:
        raise _malformed(e) from e
    if envelope.source != "aws.kms":
        raise EventRejected(f"source is {envelope.source[:80]!r}, expected 'aws.kms' for {KEY_MATERIAL_EXPIRED!r}")
    arns = [r for r in envelope.resources if r and ":key/" in r]
    key_ref = arns[0] if arns else (envelope.detail.key_id if envelope.detail else None)
    service = "kms.amazonaws.com"
    return EncryptionChange(
        event_id=envelope.id,
        cloudtrail_event_id=None,
        event_time=envelope.time,
        account=envelope.account,
        region=envelope.region,
        actor=Actor(f"service:{service}", "AWSService", f"service:{service}", None, "", None, invoked_by=service),
        error_code=None,
        event_source=KMS_SOURCE,
        event_name=KEY_MATERIAL_EXPIRED,
        key_ref=key_ref,
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


def identity_center_user(on_behalf_of: OnBehalfOf | None) -> str | None:
    """`identitycenter:<identityStoreArn>/user/<userId>`, verbatim (no lookup), when both are given."""
    if on_behalf_of is None or not on_behalf_of.user_id or not on_behalf_of.identity_store_arn:
        return None
    return f"identitycenter:{on_behalf_of.identity_store_arn}/user/{on_behalf_of.user_id}"


def actor_from(record: CloudTrailRecord) -> Actor:
    """Reduce userIdentity to who acted; for an assumed role, `principal_arn` is the role behind it.

    Without an ARN the actor is, in order: the Identity Center user the request was made for, the AWS service that
    invoked it, or unknown. A missing userIdentity is an unknown actor, never a rejected event.
    """
    identity = record.user_identity or UserIdentity()
    invoked_by = identity.invoked_by
    arn = (
        identity.arn
        or identity_center_user(identity.on_behalf_of)
        or (f"service:{invoked_by}" if invoked_by else None)
        or UNKNOWN
    )
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
        type=identity.type or UNKNOWN,
        principal_arn=principal_arn,
        session_name=session_name,
        user_agent=record.user_agent or "",
        source_ip=record.source_ip,
        invoked_by=invoked_by,
        from_console=record.session_from_console == "true",
    )
