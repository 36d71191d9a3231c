"""The key posture rules (chalicelib.keyposture), pure and table-driven: every fixture issue 11 lists, the member
StackSet key policy exactly as CloudFormation renders it, and the rotation rule."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from chalicelib.domain import USABLE_KEY_STATES, KeyInfo, PostureStatus, RotationStatus
from chalicelib.keyposture import Organization, PolicyUnreadable, judge, rotation_applies
from localaws.world import policy_document as _policy
from localaws.world import root_statement, xray_statement
from tests.test_infra import Stack, _template

OWNER = "222222222222"
ORG_ID = "o-abc123def4"
OUTSIDE = "999988887777"
ORG = Organization(OWNER, frozenset({"123456789012"}), ORG_ID)
ROOT = root_statement(OWNER)
XRAY = xray_statement()


def _allow(principal: Any, action: Any = "kms:Decrypt", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


def moto_default_policy() -> str:
    """moto 5.2.5's default key policy (moto/kms/models.py generate_default_policy), as localaws serves it."""
    return json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*", "Resource": "*"}]})  # fmt: skip


def member_stackset_policy(partition: str = "aws", region: str = "eu-west-1") -> str:
    """infra/member-rules.yaml's XRayKey policy as CloudFormation renders it (with the CloudWatch Logs statement)."""
    template = _template("member-rules.yaml")
    stack = Stack(template, {"CentralAccountId": "111122223333", "CentralRegion": region}, partition, region)
    policy = stack.resolve(template["Resources"]["XRayKey"]["Properties"]["KeyPolicy"])
    assert "AllowCloudWatchLogsForSpans" in json.dumps(policy)
    return json.dumps(policy)


@pytest.mark.parametrize(
    ("document", "rules"),
    [
        (moto_default_policy(), []),
        (member_stackset_policy(), []),
        (member_stackset_policy("aws-cn", "cn-north-1"), []),
        (_policy(ROOT, XRAY), []),
        (_policy(ROOT, _allow("*")), ["P2"]),  # "*" + kms:Decrypt
        (_policy(ROOT, _allow({"AWS": "*"}, "*")), ["P2"]),  # Action "*"
        (_policy(ROOT, _allow("*", "kms:De*")), ["P2"]),
        (_policy(ROOT, _allow("*", "KMS:decrypt")), ["P2"]),  # IAM action names are case-insensitive
        (_policy(ROOT, {"Effect": "Allow", "Principal": "*", "NotAction": ["kms:Encrypt"], "Resource": "*"}), ["P2"]),
        (_policy(ROOT, _allow("*", "kms:CreateGrant")), ["P2"]),
        (_policy(ROOT, _allow("*", "kms:ReEncrypt*")), ["P2"]),
        (_policy(ROOT, _allow("*", "kms:PutKeyPolicy")), ["P2"]),
        (_policy(ROOT, _allow({"AWS": f"arn:aws:iam::{OUTSIDE}:root"})), ["P2"]),  # an outside account root
        (_policy(ROOT, _allow({"AWS": OUTSIDE})), ["P2"]),
        (_policy(ROOT, _allow({"AWS": [f"arn:aws:iam::{OWNER}:role/app", f"arn:aws:iam::{OUTSIDE}:role/x"]})), ["P2"]),
        (_policy(ROOT, _allow("*", Condition={"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID}})), ["P2"]),
        (_policy(ROOT, _allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-someoneelse1"}})), ["P2"]),
        (_policy(ROOT, _allow("*", Condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}})), ["P2"]),
        (_policy(ROOT, _allow("*", Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}})), ["P2"]),
        (
            _policy(ROOT, _allow("*", Condition={"StringEquals": {"kms:ViaService": "xray.eu-west-1.amazonaws.com"}})),
            ["P2"],
        ),
        (
            _policy(
                ROOT,
                {
                    "Effect": "Allow",
                    "NotPrincipal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                },
            ),
            ["P2"],
        ),
        (_policy({**ROOT, "Action": "kms:Describe*"}), ["P1"]),  # the root may no longer do everything
        (_policy(XRAY), ["P1"]),  # root statement removed
        (_policy({**ROOT, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}), ["P1"]),  # conditioned
        (_policy({**ROOT, "Resource": f"arn:aws:kms:eu-west-1:{OWNER}:key/x"}), ["P1"]),
        (_policy({**ROOT, "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE}:root"}}), ["P1", "P2"]),
        (_policy({**ROOT, "Principal": {"AWS": OWNER}}), []),  # KMS accepts the bare account id
        (_policy({**ROOT, "Action": "*"}), []),
        (_policy(ROOT, _allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}})), []),  # the org
        (_policy(ROOT, _allow("*", "kms:*", Condition={"StringEquals": {"aws:PrincipalOrgID": [ORG_ID]}})), []),
        (_policy(ROOT, _allow("*", Condition={"StringEquals": {"kms:CallerAccount": "123456789012"}})), []),
        (_policy(ROOT, _allow("*", Condition={"StringEquals": {"kms:CallerAccount": OUTSIDE}})), ["P2"]),
        (_policy(ROOT, _allow("*", Condition={"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{OWNER}:role/a"}})), []),
        (_policy(ROOT, _allow({"AWS": "arn:aws:iam::123456789012:role/xray-guard-on-change"}, "kms:CreateGrant")), []),
        (_policy(ROOT, _allow({"AWS": "AROAEXAMPLEDELETEDROLE1"})), []),  # a deleted role's unique id
        (_policy(ROOT, _allow("*", "kms:Encrypt")), []),  # not decrypt-capable
        (_policy(ROOT, _allow("*", "kms:DescribeKey")), []),
        (_policy(ROOT, {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}), []),
        (
            _policy(
                ROOT,
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "NotAction": ["kms:Decrypt", "kms:ReEncrypt*", "kms:CreateGrant", "kms:PutKeyPolicy"],
                    "Resource": "*",
                },
            ),
            [],
        ),
        (_policy(ROOT, _allow({"Service": "logs.eu-west-1.amazonaws.com"}, "kms:Decrypt*")), []),  # service: out
        (_policy(ROOT, {**XRAY, "Action": "kms:*"}), ["P3"]),
        (_policy(ROOT, {**XRAY, "Action": ["kms:GenerateDataKey*", "kms:Decrypt"]}), ["P3"]),
        (_policy(ROOT, {**XRAY, "Action": "kms:Decrypt"}), []),
    ],
)
def test_policy_rules(document: str, rules: list[str]) -> None:
    posture = judge({"default": document}, None, ORG)
    assert [p.rule for p in posture.problems] == rules
    assert posture.status is (PostureStatus.WEAK if rules else PostureStatus.OK)
    assert posture.render() == ("ok" if not rules else "weak: " + "; ".join(p.words for p in posture.problems))


def test_weak_words_name_the_statement_the_principal_and_the_actions() -> None:
    posture = judge({"default": _policy(ROOT, {**_allow("*", "kms:*"), "Sid": "Open"})}, None, ORG)
    assert posture.render() == (
        "weak: statement 'Open' lets anyone (\"*\") call kms:Decrypt, kms:ReEncryptFrom, kms:CreateGrant, "
        "kms:PutKeyPolicy without a condition pinning the organization (aws:PrincipalOrgID, aws:PrincipalAccount, "
        "kms:CallerAccount or aws:PrincipalArn)"
    )
    assert posture.severity == "critical"
    root_gone = judge({"default": _policy(XRAY)}, None, ORG)
    assert root_gone.render() == "weak: no account-root statement; IAM policies no longer apply"
    assert root_gone.severity == "high"


def test_the_aws_ram_policy_is_judged_by_p2_and_p3_but_holds_no_root_statement() -> None:
    shared = _policy(_allow({"AWS": f"arn:aws:iam::{OUTSIDE}:root"}))
    posture = judge({"default": moto_default_policy(), "AWS_RAM": shared}, None, ORG)
    assert [p.rule for p in posture.problems] == ["P2"]
    assert "of the AWS_RAM policy" in posture.problems[0].words


def test_without_an_organization_id_a_principal_org_condition_pins_nothing_and_says_why() -> None:
    document = _policy(ROOT, _allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}))
    posture = judge({"default": document}, None, Organization(OWNER))
    assert posture.status is PostureStatus.WEAK
    assert posture.render().endswith("(XRAY_GUARD_ORGANIZATION_ID is not set, so no aws:PrincipalOrgID value can be "
                                     "confirmed as yours)")  # fmt: skip


@pytest.mark.parametrize(
    ("rotation", "words"),
    [
        (None, None),  # not applicable (origin not AWS_KMS, or the key is unusable)
        (RotationStatus(True, 365), None),
        (RotationStatus(True, None), None),
        (RotationStatus(True, 90), None),
        (RotationStatus(False), "automatic key rotation is off"),
        (RotationStatus(True, 366), "rotation period is 366 days (over 365)"),
        (RotationStatus(True, 2560), "rotation period is 2560 days (over 365)"),
    ],
)
def test_rotation(rotation: RotationStatus | None, words: str | None) -> None:
    posture = judge({"default": moto_default_policy()}, rotation, ORG)
    assert posture.render() == ("ok" if words is None else f"weak: {words}")
    assert posture.severity == (None if words is None else "medium")


@pytest.mark.parametrize(
    ("origin", "state", "applies"),
    [
        ("AWS_KMS", "Enabled", True),
        ("AWS_KMS", "Updating", True),
        ("AWS_KMS", "Disabled", False),
        ("EXTERNAL", "Enabled", False),
        ("AWS_CLOUDHSM", "Enabled", False),
        ("EXTERNAL_KEY_STORE", "Enabled", False),
    ],
)
def test_rotation_applies_to_usable_keys_of_kms_origin(origin: str, state: str, applies: bool) -> None:
    assert rotation_applies(origin, state in USABLE_KEY_STATES) is applies


@pytest.mark.parametrize("document", ["not json", json.dumps({"Statement": "x"}), json.dumps([1])])
def test_an_unreadable_policy_is_a_typed_error(document: str) -> None:
    with pytest.raises(PolicyUnreadable, match="key policy 'default'"):
        judge({"default": document}, None, ORG)


def _kms_key_states() -> list[str]:
    model = botocore.session.get_session().get_service_model("kms")
    return sorted(getattr(model.shape_for("KeyState"), "enum", []))


# Issue 11: usable only while Enabled or Updating; the rest of the KMS model's KeyState enum is unusable.
UNUSABLE = {"Creating", "Disabled", "PendingDeletion", "PendingReplicaDeletion", "PendingImport", "Unavailable"}


@pytest.mark.parametrize("state", [*_kms_key_states(), "SomeStateKmsAddsLater"])
def test_every_key_state_of_the_kms_model_is_usable_or_not_as_issue_11_says(state: str) -> None:
    key = KeyInfo("arn:aws:kms:eu-west-1:222222222222:key/k", state, "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    usable = state in {"Enabled", "Updating"}
    assert key.usable is usable
    assert (key.unusable_reason is None) is usable
    if not usable:
        assert key.unusable_reason == f"key state is {state}"


def test_the_usable_states_and_issue_11s_unusable_ones_are_the_kms_models_enum() -> None:
    assert set(_kms_key_states()) == USABLE_KEY_STATES | UNUSABLE
