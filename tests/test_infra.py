"""The deployment templates say what the code and the README promise (cfn-lint checks them as CloudFormation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from chalicelib.events import PATTERN
from chalicelib.sweep import TABLE_KEYS
from tests.test_iam import operations_called_by_code

INFRA = Path(__file__).parents[1] / "infra"


def _template(name: str) -> dict[str, Any]:
    template, errors = decode(str(INFRA / name))
    assert not errors, errors
    assert template is not None
    return dict(template)


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for s in statements:
        value = s["Action"]
        out |= {value} if isinstance(value, str) else set(value)
    return out


def test_member_rule_forwards_exactly_the_responder_pattern() -> None:
    rule = _template("member-stackset.yaml")["Resources"]["ForwardXRayEncryptionChanges"]["Properties"]
    assert json.loads(json.dumps(rule["EventPattern"])) == PATTERN
    assert "event-bus/default" in json.dumps(rule["Targets"][0]["Arn"])


def test_member_role_trust_is_bound_to_responder_roles_and_organization() -> None:
    role = _template("member-stackset.yaml")["Resources"]["XRayGuardMemberRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    condition = json.dumps(trust["Condition"])
    assert "aws:PrincipalOrgID" in condition
    assert ":role/xray-guard-*" in json.dumps(trust["Condition"]["ArnLike"]["aws:PrincipalArn"])
    assert role["RoleName"] == "XRayGuardMember"


def test_member_role_allows_exactly_what_the_code_calls_in_a_member_account() -> None:
    role = _template("member-stackset.yaml")["Resources"]["XRayGuardMemberRole"]["Properties"]
    actions = _actions(role["Policies"][0]["PolicyDocument"]["Statement"])
    assert not [a for a in actions if "*" in a]
    in_member = {"xray:GetEncryptionConfig", "xray:PutEncryptionConfig", "kms:DescribeKey", "account:ListRegions",
                 "ec2:DescribeRegions"}  # fmt: skip
    assert in_member <= operations_called_by_code()
    assert actions == in_member


def test_xray_key_has_rotation_root_statement_and_the_guide_statement() -> None:
    key = _template("member-stackset.yaml")["Resources"]["XRayKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    sids = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    assert ":root" in json.dumps(sids["EnableIAMUserPermissions"]["Principal"])
    assert sids["AllowXRayToUseKey"]["Principal"] == {"Service": "xray.amazonaws.com"}
    assert sorted(sids["AllowXRayToUseKey"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_scp_exempts_break_glass_and_the_member_role() -> None:
    scp = json.loads((INFRA / "scp-deny-xray-default-encryption.json").read_text())
    [statement] = scp["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "xray:PutEncryptionConfig")
    exempt = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert set(exempt) == {"arn:aws:iam::*:role/SecurityBreakGlass", "arn:aws:iam::*:role/XRayGuardMember"}


def test_central_template_bus_policy_table_and_role_names() -> None:
    central = json.loads((INFRA / "central.json").read_text())["Resources"]
    bus = central["OrganizationPutEvents"]["Properties"]["Statement"]
    assert "aws:PrincipalOrgID" in bus["Condition"]["StringEquals"]
    table = central["SweepTable"]["Properties"]
    assert {k: table[k] for k in TABLE_KEYS} == TABLE_KEYS
    roles = [r["Properties"]["RoleName"] for k, r in central.items() if k.endswith("Role") and k != "ChatbotRole"]
    assert roles
    assert all(name.startswith("xray-guard-") for name in roles)  # what the member role trusts
    assert central["AlertTopic"]["Properties"]["TopicName"] == "xray-guard-alerts"  # what sns:Publish allows
    assert central["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertKey"}
