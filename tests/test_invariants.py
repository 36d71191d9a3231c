"""Invariants of the responder, proven with hypothesis over the identities CloudTrail documents, the key references
X-Ray accepts and the live states an account can be in, against an in-memory AWS (fast enough for many examples).

- never a write when compliant;
- never a write of anything but the approved key ARN as KMS resolves it at that moment (after an alias re-point:
  the new key, never the retired one);
- never silence on drift: an alert, or a failed invocation;
- 0 AWS calls for rejected and skipped events.

Identity types: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import RemediationFailed
from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from tests.conftest import FakeTime, load_event

MEMBER, REGION, CENTRAL = "222222222222", "eu-west-1", "123456789012"
ALIAS = "alias/xray-encryption"
K1 = f"arn:aws:kms:{REGION}:{MEMBER}:key/11111111-1111-4111-8111-111111111111"
K2 = f"arn:aws:kms:{REGION}:{MEMBER}:key/22222222-2222-4222-8222-222222222222"
OTHER = f"arn:aws:kms:{REGION}:{MEMBER}:key/33333333-3333-4333-8333-333333333333"
MANAGED = f"arn:aws:kms:{REGION}:{MEMBER}:key/44444444-4444-4444-8444-444444444444"
FOREIGN = f"arn:aws:kms:{REGION}:999999999999:key/55555555-5555-4555-8555-555555555555"
TOPIC = f"arn:aws:sns:us-east-1:{CENTRAL}:xray-guard-alerts"


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@dataclass
class FakeAws:
    """One member account/region: X-Ray's setting, KMS keys and aliases, and the alert topic. Records every call."""

    aliases: dict[str, str] = field(default_factory=lambda: {ALIAS: K1, "alias/aws/xray": MANAGED})
    managers: dict[str, str] = field(default_factory=lambda: {K1: "CUSTOMER", K2: "CUSTOMER", OTHER: "CUSTOMER",
                                                               MANAGED: "AWS"})  # fmt: skip
    xray: dict[str, str] = field(default_factory=lambda: {"Type": "NONE", "Status": "ACTIVE"})
    calls: list[str] = field(default_factory=list)
    puts: list[tuple[str, str]] = field(default_factory=list)  # (key written, approved alias target at that moment)
    published: list[dict[str, Any]] = field(default_factory=list)
    destination: str = "XRay"
    spans_group: bool = False
    spans_key: str | None = None

    def resolve(self, ref: str) -> str | None:
        if ref.startswith("arn:") and ":alias/" in ref:
            ref = "alias/" + ref.split(":alias/", 1)[1]
        if ref.startswith("alias/"):
            return self.aliases.get(ref)
        arn = ref if ref.startswith("arn:") else f"arn:aws:kms:{REGION}:{MEMBER}:key/{ref}"
        return arn if arn in self.managers or arn == FOREIGN else None

    # X-Ray
    def get_encryption_config(self) -> dict[str, Any]:
        self.calls.append("xray:GetEncryptionConfig")
        config = dict(self.xray)
        self.xray["Status"] = "ACTIVE"  # UPDATING lasts one read
        return {"EncryptionConfig": config}

    def put_encryption_config(self, *, Type: str, KeyId: str) -> dict[str, Any]:  # noqa: N803 (the wire name)
        self.calls.append("xray:PutEncryptionConfig")
        self.puts.append((KeyId, self.aliases[ALIAS]))
        self.xray = {"Type": Type, "KeyId": self.resolve(KeyId) or KeyId, "Status": "ACTIVE"}
        return {"EncryptionConfig": {**self.xray, "Status": "UPDATING"}}

    def get_trace_segment_destination(self) -> dict[str, Any]:
        self.calls.append("xray:GetTraceSegmentDestination")
        return {"Destination": self.destination, "Status": "ACTIVE"}

    # CloudWatch Logs
    def describe_log_groups(self, *, logGroupNamePrefix: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("logs:DescribeLogGroups")
        if not self.spans_group or not "aws/spans".startswith(logGroupNamePrefix):
            return {"logGroups": []}
        group = {"logGroupName": "aws/spans", **({"kmsKeyId": self.spans_key} if self.spans_key else {})}
        return {"logGroups": [group]}

    def associate_kms_key(self, *, logGroupName: str, kmsKeyId: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("logs:AssociateKmsKey")
        assert logGroupName == "aws/spans"
        self.puts.append((kmsKeyId, self.aliases[ALIAS]))
        self.spans_key = kmsKeyId
        return {}

    # KMS
    def describe_key(self, *, KeyId: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append("kms:DescribeKey")
        arn = self.resolve(KeyId)
        if arn is None or arn == FOREIGN:  # another account's key is not describable with member credentials
            raise _error("NotFoundException" if arn is None else "AccessDeniedException", "DescribeKey")
        return {"KeyMetadata": {"Arn": arn, "KeyState": "Enabled", "KeyManager": self.managers[arn],
                                "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}}  # fmt: skip

    # SNS
    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("sns:Publish")
        self.published.append(json.loads(json.loads(kwargs["Message"])["sqs"]))
        return {"MessageId": str(len(self.published))}


# One base and one members session for every example: FakeClients builds no client from them, and a botocore
# session costs ~10 ms.
BASE, MEMBERS = botocore.session.Session(), botocore.session.Session()


class FakeClients(ClientFactory):
    def __init__(self, aws: FakeAws) -> None:
        super().__init__("XRayGuardMember", base=BASE, members=MEMBERS, region="us-east-1", home_account=CENTRAL)
        self.aws = aws

    def xray(self, account: str, region: str) -> Any:
        assert (account, region) == (MEMBER, REGION), "acted outside the event's account/region"
        return self.aws

    def kms(self, account: str, region: str) -> Any:
        assert (account, region) == (MEMBER, REGION), "acted outside the event's account/region"
        return self.aws

    def logs(self, account: str, region: str) -> Any:
        assert (account, region) == (MEMBER, REGION), "acted outside the event's account/region"
        return self.aws

    def home_sns(self, region: str) -> Any:
        assert region == TOPIC.split(":")[3]
        return self.aws


# -- what hypothesis draws -------------------------------------------------------------------------------------------

IDENTITY_TYPES = ["Root", "IAMUser", "AssumedRole", "Role", "FederatedUser", "Directory", "AWSAccount", "AWSService",
                  "IdentityCenterUser", "Unknown"]  # fmt: skip
KEY_REFS = {
    "alias name": ALIAS,
    "alias ARN": f"arn:aws:kms:{REGION}:{MEMBER}:{ALIAS}",
    "key id": K1.rsplit("/", 1)[1],
    "key ARN": K1,
}
LIVE_STATES = ["NONE", "UPDATING", "approved", "approved-after-rotation", "previous-after-rotation", "other", "foreign",
               "AWS-managed"]  # fmt: skip


@st.composite
def identities(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(IDENTITY_TYPES))
    identity: dict[str, Any] = {"type": kind, "accountId": MEMBER}
    if kind == "AssumedRole":
        identity["arn"] = f"arn:aws:sts::{MEMBER}:assumed-role/{draw(st.sampled_from(['Admin', 'Dev']))}/s"
        if draw(st.booleans()):
            identity["sessionContext"] = {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{MEMBER}:role/Admin"}}
    elif kind in {"IAMUser", "Root", "FederatedUser"}:
        identity["arn"] = f"arn:aws:iam::{MEMBER}:{'root' if kind == 'Root' else 'user/alice'}"
    elif kind == "AWSService":
        identity["invokedBy"] = "cloudformation.amazonaws.com"
    if draw(st.booleans()):
        identity["onBehalfOf"] = {
            "userId": "9067",
            "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-1",
        }
    if draw(st.booleans()):
        identity["inScopeOf"] = {"sourceAccount": MEMBER}
    return identity


@dataclass(frozen=True)
class Case:
    mode: str
    require_cmk: bool
    approved_ref: str
    live: str
    identity: dict[str, Any]
    shape: str  # "change" | "failed" | "own-echo" | "malformed"
    spans: str  # "off" | "on-approved" | "on-unencrypted" | "on-other"


cases = st.builds(
    Case,
    mode=st.sampled_from(["alert", "revert"]),
    require_cmk=st.booleans(),
    approved_ref=st.sampled_from(sorted(KEY_REFS)),
    live=st.sampled_from(LIVE_STATES),
    identity=identities(),
    shape=st.sampled_from(["change", "change", "change", "failed", "own-echo", "malformed"]),
    spans=st.sampled_from(["off", "on-approved", "on-unencrypted", "on-other"]),
)

BASE_EVENT = load_event("console-change-to-none.json")


def _event(case: Case) -> dict[str, Any]:
    event = copy.deepcopy(BASE_EVENT)
    event["detail"]["userIdentity"] = case.identity
    if case.shape == "failed":
        event["detail"]["errorCode"] = "AccessDenied"
    elif case.shape == "own-echo":
        event["detail"]["userIdentity"] = {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{MEMBER}:assumed-role/XRayGuardMember/xray-guard",
            "accountId": MEMBER,
        }
        event["detail"]["userAgent"] = "Boto3/1.44.8 xray-guard/0.1.0"
    elif case.shape == "malformed":
        del event["account"]
    return event


def _live(aws: FakeAws, live: str) -> None:
    states = {
        "NONE": {"Type": "NONE", "Status": "ACTIVE"},
        "UPDATING": {"Type": "KMS", "KeyId": aws.aliases[ALIAS], "Status": "UPDATING"},
        "approved": {"Type": "KMS", "KeyId": K1, "Status": "ACTIVE"},
        "approved-after-rotation": {"Type": "KMS", "KeyId": K2, "Status": "ACTIVE"},
        "previous-after-rotation": {"Type": "KMS", "KeyId": K1, "Status": "ACTIVE"},
        "other": {"Type": "KMS", "KeyId": OTHER, "Status": "ACTIVE"},
        "foreign": {"Type": "KMS", "KeyId": FOREIGN, "Status": "ACTIVE"},
        "AWS-managed": {"Type": "KMS", "KeyId": MANAGED, "Status": "ACTIVE"},
    }
    aws.xray = states[live]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_responder_invariants(case: Case) -> None:
    aws = FakeAws()
    approved_ref = KEY_REFS[case.approved_ref]
    env = {"XRAY_GUARD_KMS_KEY": approved_ref, "XRAY_GUARD_TOPIC_ARN": TOPIC, "XRAY_GUARD_MODE": case.mode,
           "XRAY_GUARD_REQUIRE_CMK": str(case.require_cmk).lower()}  # fmt: skip
    clock = FakeTime()
    responder = Responder(Settings.from_env(env), FakeClients(aws), sleep=clock.sleep, clock=clock.monotonic)

    # Warm the approved-key cache while the alias still points at K1, as a long-lived container would.
    aws.xray = {"Type": "KMS", "KeyId": K1, "Status": "ACTIVE"}
    responder.on_event(copy.deepcopy(BASE_EVENT))
    rotated = case.live.endswith("-after-rotation") and ":alias/" in f":{approved_ref}"
    if rotated:
        aws.aliases[ALIAS] = K2  # the key rotates by re-pointing the alias
    _live(aws, case.live)
    aws.destination = "XRay" if case.spans == "off" else "CloudWatchLogs"
    aws.spans_group = case.spans != "off"
    aws.spans_key = {"on-approved": aws.resolve(approved_ref), "on-other": OTHER}.get(case.spans)
    before_key = aws.xray.get("KeyId")
    compliant_before = before_key == aws.resolve(approved_ref) or (before_key == MANAGED and not case.require_cmk)
    compliant_before &= case.spans in {"off", "on-approved"}
    aws.calls.clear()
    aws.published.clear()

    failed = False
    try:
        summary = responder.on_event(_event(case))
    except RemediationFailed:
        failed, summary = True, {}
    approved_now = aws.resolve(approved_ref)

    if case.shape != "change":
        assert aws.calls == [], f"{case.shape}: {aws.calls}"
        assert summary["decision"].startswith(("rejected", "skipped"))
        return
    # Never a write (X-Ray's config or aws/spans) of anything but the approved key ARN as KMS resolves it then.
    for written, _target in aws.puts:
        assert written == approved_now, f"wrote {written}, approved is {approved_now}"
    live_key = aws.xray.get("KeyId")
    if rotated and case.live == "previous-after-rotation":
        return  # a cached description may confirm compliance for its TTL; the write check above still holds
    if compliant_before:
        assert aws.puts == [], f"{case}: wrote although compliant"
        assert summary["outcome"] == "compliant"
    else:
        # Drift is never silent: an alert that says what happened, or a failed invocation.
        assert failed or aws.published, f"{case}: drift without an alert"
        if case.mode == "revert" and not failed:
            assert live_key == approved_now or (live_key == MANAGED and not case.require_cmk)
            assert case.spans == "off" or aws.spans_key == approved_now
