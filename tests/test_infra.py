"""The deployment artefacts say what the code and the READMEs promise: member templates, SCP, central template (as
packaged and transformed), partitions, trust policies and the rollout commands (cfn-lint checks the templates as
CloudFormation in `make cfn-lint`; this checks what they mean).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore
import pytest
from cfnlint.decode import decode

from chalicelib.domain import Actor
from chalicelib.events import PATTERN
from chalicelib.policy import is_exempt
from chalicelib.spans import logs_key_statement
from chalicelib.table import TABLE_KEYS
from infra.sam_transform import TransformError, transform
from tests.test_iam import (
    allowed_actions,
    allows,
    arn_like,
    chalice_config,
    condition_holds,
    function_policy,
    handler_names,
    member_role_policy,
    operations_called_by_code,
)

ROOT = Path(__file__).parents[1]
INFRA = ROOT / "infra"
SCP = INFRA / "scp-deny-xray-default-encryption.json"
CENTRAL_ACCOUNT = "111122223333"
ORG = "o-abc123def4"
PARTITIONS = {"aws": "eu-west-1", "aws-us-gov": "us-gov-east-1", "aws-cn": "cn-northwest-1"}

# Condition keys a policy of ours may use, each with the page that documents it.
DOCUMENTED_CONDITION_KEYS = {
    "aws:PrincipalArn": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn",
    "aws:PrincipalOrgID": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid",
    "aws:SourceAccount": "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html",
    "aws:SourceArn": "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html",
    "aws:SecureTransport": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-securetransport",
    "dynamodb:LeadingKeys": "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html#amazondynamodb-policy-keys",
    "kms:ResourceAliases": "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases",
    "kms:GrantIsForAWSResource": "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource",
    # The CloudWatch Logs encryption context key (its value is the log group ARN): CloudWatch Logs user guide,
    # "Encrypt log data in CloudWatch Logs using AWS KMS", step 2 (key policy).
    "kms:EncryptionContext:aws:logs:arn": "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
}  # fmt: skip
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
DOCUMENTED_OPERATORS = {
    "StringEquals", "StringLike", "ArnEquals", "ArnLike", "ArnNotLike", "Bool",
    "ForAllValues:StringLike", "ForAnyValue:StringEquals",
}  # fmt: skip
# "Maximum size of a service control policy document: 5,120 characters" (AWS Organizations quotas,
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html). `create-policy
# --content file://...` sends the file as it is, whitespace included, so the file itself must fit.
SCP_MAX_CHARACTERS = 5120


def _template(name: str) -> dict[str, Any]:
    template, errors = decode(str(INFRA / name))
    assert not errors, errors
    assert template is not None
    return dict(template)


def _central() -> dict[str, Any]:
    central: dict[str, Any] = json.loads((INFRA / "central.json").read_text())
    return central


def _role_name(logical_id: str) -> str:
    name: str = _central()["Resources"][f"{logical_id}Role"]["Properties"]["RoleName"]
    return name


def _lambda_role_names() -> dict[str, str]:
    """Handler name → its role's fixed name in infra/central.json."""
    return {f: _role_name("".join(p.title() for p in f.split("_"))) for f in handler_names()}


# -- a resolver for the intrinsic functions our templates use, to read them as CloudFormation would --------


class Stack:
    """Parameter values and pseudo parameters of one imagined stack, to resolve a template's values."""

    def __init__(self, template: Mapping[str, Any], params: Mapping[str, str], partition: str, region: str) -> None:
        defaults = {k: v.get("Default") for k, v in template.get("Parameters", {}).items() if "Default" in v}
        self.values = {**defaults, **params}
        self.values.update({"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": "222222222222"})
        self.values["AWS::URLSuffix"] = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
        self.conditions = template.get("Conditions", {})

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v) for k, v in node.items()}
        [(fn, arg)] = node.items()
        if fn == "Ref":
            return self.values[arg]
        if fn == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.values[m.group(1)]), arg)
        if fn == "Fn::Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if fn == "Fn::If":
            return self.resolve(arg[1] if self.holds({"Condition": arg[0]}) else arg[2])
        return {fn: self.resolve(arg)}

    def holds(self, node: Any) -> bool:
        [(fn, arg)] = node.items()
        if fn == "Condition":
            return self.holds(self.conditions[arg])
        if fn == "Fn::Equals":
            return bool(self.resolve(arg[0]) == self.resolve(arg[1]))
        if fn == "Fn::Not":
            return not self.holds(arg[0])
        if fn == "Fn::And":
            return all(self.holds(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.holds(a) for a in arg)
        raise AssertionError(f"not a condition: {node}")


def _rules_pass(template: Mapping[str, Any], stack: Stack) -> bool:
    """CloudFormation's Rules: a rule whose condition holds must have every assertion hold."""
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not stack.holds(rule["RuleCondition"]):
            continue
        if not all(stack.holds(a["Assert"]) for a in rule["Assertions"]):
            return False
    return True


# -- member templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("partition", "region"), [("aws", "eu-west-1"), ("aws-cn", "cn-north-1")])
def test_member_key_lets_cloudwatch_logs_use_it_for_aws_spans_exactly_as_the_alert_quotes(
    partition: str, region: str
) -> None:
    template = _template("member-rules.yaml")
    policy = template["Resources"]["XRayKey"]["Properties"]["KeyPolicy"]
    stack = Stack(template, {"CentralAccountId": CENTRAL_ACCOUNT, "CentralRegion": region}, partition, region)
    [statement] = [s for s in stack.resolve(policy["Statement"]) if s["Sid"] == "AllowCloudWatchLogsForSpans"]
    suffix = stack.values["AWS::URLSuffix"]
    assert statement == logs_key_statement(partition, region, "222222222222", suffix)
    assert stack.resolve(logs_key_statement()) == logs_key_statement()  # the quoted form keeps the substitutions


def test_member_rule_forwards_exactly_the_responder_pattern_under_the_name_the_forwarder_trusts() -> None:
    rule = _template("member-rules.yaml")["Resources"]["ForwardXRayEncryptionChanges"]["Properties"]
    assert json.loads(json.dumps(rule["EventPattern"])) == PATTERN
    stack = Stack(_template("member-rules.yaml"), {"CentralAccountId": CENTRAL_ACCOUNT, "CentralRegion": "eu-west-1"},
                  "aws-us-gov", "us-gov-west-1")  # fmt: skip
    [target] = stack.resolve(rule["Targets"])
    assert target["Arn"] == f"arn:aws-us-gov:events:eu-west-1:{CENTRAL_ACCOUNT}:event-bus/default"
    assert target["RoleArn"] == "arn:aws-us-gov:iam::222222222222:role/xray-guard-event-forwarder"

    roles = _template("member-roles.yaml")
    forwarder = roles["Resources"]["EventForwarderRole"]["Properties"]
    assert forwarder["RoleName"] == "xray-guard-event-forwarder"
    [trust] = Stack(roles, _roles_params(), "aws-us-gov", "us-gov-west-1").resolve(
        forwarder["AssumeRolePolicyDocument"]["Statement"]
    )
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    rule_arn = f"arn:aws-us-gov:events:{{}}:222222222222:rule/{rule['Name']}"
    context = {"aws:SourceAccount": "222222222222", "aws:SourceArn": rule_arn.format("us-gov-east-1")}
    assert condition_holds(trust["Condition"], context)
    for other in (
        {**context, "aws:SourceArn": f"arn:aws-us-gov:events:us-gov-east-1:222222222222:rule/{rule['Name']}-copy"},
        {**context, "aws:SourceArn": f"arn:aws-us-gov:events:us-gov-east-1:333333333333:rule/{rule['Name']}"},
        {**context, "aws:SourceAccount": "333333333333"},
        {"aws:SourceArn": context["aws:SourceArn"]},
    ):
        assert not condition_holds(trust["Condition"], other), other


def _roles_params(audit: str = "") -> dict[str, str]:
    return {"CentralAccountId": CENTRAL_ACCOUNT, "CentralRegion": "eu-west-1", "OrganizationId": ORG,
            "AuditPrincipalArns": audit}  # fmt: skip


@pytest.mark.parametrize("partition", sorted(PARTITIONS))
@pytest.mark.parametrize(
    "audit", ["", "arn:{p}:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Audit_0a1b"]
)
def test_member_role_trusts_exactly_the_lambda_roles_and_the_audit_operators_of_the_organization(
    partition: str, audit: str
) -> None:
    roles = _template("member-roles.yaml")
    role = roles["Resources"]["XRayGuardMemberRole"]["Properties"]
    assert role["RoleName"] == "XRayGuardMember" == chalice_config()["environment_variables"]["XRAY_GUARD_MEMBER_ROLE"]
    audit_arn = audit.format(p=partition)
    stack = Stack(roles, _roles_params(audit_arn), partition, PARTITIONS[partition])
    [trust] = stack.resolve(role["AssumeRolePolicyDocument"]["Statement"])
    assert trust["Principal"] == {"AWS": f"arn:{partition}:iam::{CENTRAL_ACCOUNT}:root"}
    trusted = {f"arn:{partition}:iam::{CENTRAL_ACCOUNT}:role/{name}" for name in _lambda_role_names().values()}
    assert len(trusted) == 4
    if audit_arn:
        trusted.add(audit_arn)
    assert set(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == trusted
    for arn in trusted:
        assert condition_holds(trust["Condition"], {"aws:PrincipalArn": arn, "aws:PrincipalOrgID": ORG})
        assert not condition_holds(trust["Condition"], {"aws:PrincipalArn": arn, "aws:PrincipalOrgID": "o-other000000"})
    for stranger in ("xray-guard-event-forwarder", "xray-guard-on-change-copy", "Admin"):
        context = {
            "aws:PrincipalArn": f"arn:{partition}:iam::{CENTRAL_ACCOUNT}:role/{stranger}",
            "aws:PrincipalOrgID": ORG,
        }
        assert not condition_holds(trust["Condition"], context), stranger


def test_audit_principals_parameter_takes_exact_iam_arns_only() -> None:
    pattern = re.compile(_template("member-roles.yaml")["Parameters"]["AuditPrincipalArns"]["AllowedPattern"])
    good = [
        "",
        "arn:aws:iam::111122223333:role/a/b/Name",
        "arn:aws-cn:iam::444455556666:user/x,arn:aws-cn:iam::111122223333:role/y",
    ]
    bad = [
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::*:role/x",
        "role/x",
        "arn:aws:iam::111122223333:role/a, arn:aws:iam::111122223333:role/b",
    ]
    assert all(pattern.match(v) for v in good)
    assert not any(pattern.match(v) for v in bad)


def test_member_role_allows_exactly_what_the_code_calls_in_a_member_account() -> None:
    actions = allowed_actions(member_role_policy())
    assert not [a for a in actions if "*" in a]
    in_member = {"xray:GetEncryptionConfig", "xray:PutEncryptionConfig", "kms:DescribeKey", "account:ListRegions",
                 "ec2:DescribeRegions", "xray:GetTraceSegmentDestination", "logs:DescribeLogGroups",
                 "logs:AssociateKmsKey", "securityhub:BatchImportFindings", "securityhub:GetFindings",
                 "events:ListRuleNamesByTarget", "events:DescribeRule", "events:ListTargetsByRule",
                 "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors",
                 "iam:GetRole", "kms:GetKeyRotationStatus", "kms:ListKeyPolicies", "kms:GetKeyPolicy",
                 "kms:EnableKeyRotation"}  # fmt: skip
    assert in_member <= operations_called_by_code()
    # X-Ray creates a grant as the caller of PutEncryptionConfig (tests/test_iam.py, PUT_ENCRYPTION_CONFIG_WITH_A_KEY).
    assert actions == in_member | {"kms:CreateGrant"}


@pytest.mark.parametrize("central_keys", ["", "arn:aws:kms:eu-west-1:111122223333:key/central-1"])
def test_member_role_lets_x_ray_use_its_own_and_the_central_keys_only_for_an_aws_service(central_keys: str) -> None:
    roles = _template("member-roles.yaml")
    policy = roles["Resources"]["XRayGuardMemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    stack = Stack(roles, {**_roles_params(), "CentralApprovedKeyArns": central_keys}, "aws", "eu-west-1")
    stack.values["AWS::NoValue"] = None  # a statement under Fn::If that the condition removes
    statements = [s for s in stack.resolve(policy["Statement"]) if s is not None]
    document = {"Statement": statements}
    own = "arn:aws:kms:eu-central-1:222222222222:key/own-1"
    service = {"kms:GrantIsForAWSResource": "true"}
    assert allows(document, "kms:CreateGrant", own, service)
    assert not allows(document, "kms:CreateGrant", own, {"kms:GrantIsForAWSResource": "false"})
    assert not allows(document, "kms:CreateGrant", "arn:aws:kms:eu-central-1:333333333333:key/x", service)
    central = "arn:aws:kms:eu-west-1:111122223333:key/central-1"
    assert allows(document, "kms:CreateGrant", central, service) == bool(central_keys)
    for action in ("kms:GetKeyPolicy", "kms:ListKeyPolicies", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation"):
        assert allows(document, action, own)
        assert not allows(document, action, central)  # a central key's posture is read by its owner's role


def test_stackset_a_holds_the_iam_roles_and_stackset_b_holds_none() -> None:
    roles = {r["Type"] for r in _template("member-roles.yaml")["Resources"].values()}
    rules = {r["Type"] for r in _template("member-rules.yaml")["Resources"].values()}
    assert roles == {"AWS::IAM::Role"}
    assert not [t for t in rules if t.startswith("AWS::IAM::")]


def test_xray_key_has_rotation_root_statement_and_the_guide_statement() -> None:
    key = _template("member-rules.yaml")["Resources"]["XRayKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    sids = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    assert ":root" in json.dumps(sids["EnableIAMUserPermissions"]["Principal"])
    assert sids["AllowXRayToUseKey"]["Principal"] == {"Service": "xray.amazonaws.com"}
    assert sorted(sids["AllowXRayToUseKey"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


@pytest.mark.parametrize(
    ("account", "region", "create_key", "resources"),
    [
        ("222222222222", "eu-west-1", "true", {"ForwardXRayEncryptionChanges", "XRayKey", "XRayKeyAlias"}),
        (CENTRAL_ACCOUNT, "eu-central-1", "false", {"ForwardXRayEncryptionChanges"}),  # the central's other regions
        (CENTRAL_ACCOUNT, "eu-west-1", "true", {"XRayKey", "XRayKeyAlias"}),  # the central bus itself
        (CENTRAL_ACCOUNT, "eu-west-1", "false", {"NothingToCreateHere"}),  # never a stack without resources
    ],
)
def test_member_rules_create_per_region_what_each_place_needs(
    account: str, region: str, create_key: str, resources: set[str]
) -> None:
    template = _template("member-rules.yaml")
    params = {"CentralAccountId": CENTRAL_ACCOUNT, "CentralRegion": "eu-west-1", "CreateKey": create_key}
    stack = Stack(template, params, "aws", region)
    stack.values["AWS::AccountId"] = account
    made = {
        name
        for name, r in template["Resources"].items()
        if "Condition" not in r or stack.holds({"Condition": r["Condition"]})
    }
    assert made == resources


# -- partitions: what is offered where --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "region", "accepted"),
    [
        ("aws", "ap-southeast-2", True),
        ("aws-us-gov", "us-gov-east-1", True),  # cross-Region routing in AWS GovCloud (US) since 2022-06-30
        ("aws-cn", "cn-northwest-1", True),  # the central Region itself: same-Region, cross-account
        ("aws-cn", "cn-north-1", False),  # no cross-Region routing in China
    ],
)
def test_member_rules_refuse_a_region_that_cannot_forward(partition: str, region: str, accepted: bool) -> None:
    template = _template("member-rules.yaml")
    central_region = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-northwest-1"}[partition]
    stack = Stack(template, {"CentralAccountId": CENTRAL_ACCOUNT, "CentralRegion": central_region}, partition, region)
    assert _rules_pass(template, stack) is accepted


@pytest.mark.parametrize(
    ("partition", "slack", "accepted"),
    [
        ("aws", "T0123ABCD", True),
        ("aws-us-gov", "T0123ABCD", False),
        ("aws-cn", "T0123ABCD", False),
        ("aws-cn", "", True),
    ],
)
def test_central_template_refuses_chat_applications_outside_the_aws_partition(
    partition: str, slack: str, accepted: bool
) -> None:
    central = _central()
    stack = Stack(central, {"OrganizationId": ORG, "SlackWorkspaceId": slack}, partition, PARTITIONS[partition])
    assert _rules_pass(central, stack) is accepted


# -- SCP and exemptions -----------------------------------------------------------------------------------


def _scp_exemptions() -> list[str]:
    scp = json.loads(SCP.read_text())
    [statement] = scp["Statement"]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
        "Deny",
        "xray:PutEncryptionConfig",
        "*",
    )
    assert set(statement["Condition"]) == {"ArnNotLike"}
    exempt: list[str] = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    return exempt


def test_scp_fits_the_organizations_size_limit_and_names_no_partition() -> None:
    assert len(SCP.read_text()) <= SCP_MAX_CHARACTERS
    assert all(p.startswith("arn:*:iam::") for p in _scp_exemptions())


SPANS_SCP = INFRA / "scp-deny-spans-key-changes.json"


@pytest.mark.parametrize("partition", sorted(PARTITIONS))
def test_spans_scp_guards_aws_spans_only_and_exempts_exactly_who_the_encryption_scp_exempts(partition: str) -> None:
    assert len(SPANS_SCP.read_text()) <= SCP_MAX_CHARACTERS
    [statement] = json.loads(SPANS_SCP.read_text())["Statement"]
    assert statement["Effect"] == "Deny"
    assert set(statement["Action"]) == {"logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:DeleteLogGroup"}
    assert statement["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": _scp_exemptions()}}
    group = f"arn:{partition}:logs:eu-west-1:444455556666:log-group:%s"
    guarded = [r for r in (group % "aws/spans", group % "aws/spans:*", group % "/app/orders", group % "aws/spans-x")
               if any(arn_like(p, r) for p in statement["Resource"])]  # fmt: skip
    assert guarded == [group % "aws/spans", group % "aws/spans:*"]
    # xray-guard's own writers may associate the key: their policies allow exactly that on aws/spans.
    assert all("logs:AssociateKmsKey" in allowed_actions(function_policy(f)) for f in _lambda_role_names()
               if _lambda_role_names()[f] in _writers())  # fmt: skip


def _writers() -> set[str]:
    """The Lambda roles whose policy allows xray:PutEncryptionConfig (the SCP must let exactly these through)."""
    return {
        role
        for f, role in _lambda_role_names().items()
        if "xray:PutEncryptionConfig" in allowed_actions(function_policy(f))
    }


@pytest.mark.parametrize("partition", sorted(PARTITIONS))
def test_scp_denies_everyone_but_break_glass_the_member_role_and_the_lambda_roles_that_write(partition: str) -> None:
    assert _writers() == {"xray-guard-on-change", "xray-guard-sweep-account"}
    exempt = [*_writers(), "XRayGuardMember", "SecurityBreakGlass", "break-glass/SecurityBreakGlass",
              "a/b/SecurityBreakGlass"]  # fmt: skip
    denied = [
        *("Admin", "xray-guard-scheduled-sweep", "xray-guard-sweep-account-failed", "xray-guard-event-forwarder"),
        *("NotSecurityBreakGlass", "ops/NotSecurityBreakGlass", "SecurityBreakGlassX", "XRayGuardMember2"),
    ]
    condition = {"ArnNotLike": {"aws:PrincipalArn": _scp_exemptions()}}

    def deny_applies(role: str) -> bool:
        return condition_holds(condition, {"aws:PrincipalArn": f"arn:{partition}:iam::444455556666:role/{role}"})

    assert [r for r in exempt if deny_applies(r)] == []
    assert [r for r in denied if not deny_applies(r)] == []


def _actor(principal_arn: str) -> Actor:
    role = principal_arn.rsplit("/", 1)[1]
    partition, account = principal_arn.split(":")[1], principal_arn.split(":")[4]
    session = f"arn:{partition}:sts::{account}:assumed-role/{role}/incident-4711"
    return Actor(session, "AssumedRole", principal_arn, "incident-4711", "aws-cli/2", None)


@pytest.mark.parametrize("partition", sorted(PARTITIONS))
def test_default_exempt_principals_match_real_arns_in_every_partition(partition: str) -> None:
    """chalicelib.policy's glob treats * as "anything", so arn:*:iam::... matches arn:<partition>:iam::..."""
    from_template = _central()["Parameters"]["ExemptPrincipals"]["Default"]
    from_config = chalice_config()["environment_variables"]["XRAY_GUARD_EXEMPT_PRINCIPALS"]
    assert from_template == from_config
    patterns = from_config.split(",")
    assert all(p.startswith("arn:*:") for p in patterns)
    for role in ("SecurityBreakGlass", "break-glass/SecurityBreakGlass"):
        assert is_exempt(_actor(f"arn:{partition}:iam::444455556666:role/{role}"), patterns), role
    for role in ("SecurityBreakGlassX", "ops/NotSecurityBreakGlass", "Admin"):
        assert not is_exempt(_actor(f"arn:{partition}:iam::444455556666:role/{role}"), patterns), role
    # The SCP and xray-guard agree on who is break-glass.
    assert all(any(arn_like(s, p.replace("*", "x")) for s in _scp_exemptions()) for p in patterns)


# -- every policy in every artefact: condition keys and operators are documented -------------------------


def _policy_documents() -> Iterator[tuple[str, Any]]:
    for name in ("member-roles.yaml", "member-rules.yaml", "central.json"):
        yield from _documents_in(name, _template(name))
    yield SCP.name, json.loads(SCP.read_text())
    for path in sorted((ROOT / ".chalice").glob("policy-*.json")):
        yield path.name, json.loads(path.read_text())


def _documents_in(where: str, node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        if "Statement" in node and "Version" in node:
            yield where, node
            return
        if "Statement" in node and isinstance(node["Statement"], dict):  # AWS::Events::EventBusPolicy
            yield where, {"Statement": [node["Statement"]]}
            return
        for value in node.values():
            yield from _documents_in(where, value)
    elif isinstance(node, list):
        for value in node:
            yield from _documents_in(where, value)


def test_every_condition_key_and_operator_is_documented() -> None:
    used: set[str] = set()
    for where, document in _policy_documents():
        for statement in document["Statement"]:
            for operator, block in statement.get("Condition", {}).items():
                assert operator in DOCUMENTED_OPERATORS, (where, operator)
                for key in block:
                    assert key in DOCUMENTED_CONDITION_KEYS, (where, key)
                    used.add(key)
    # The trust policies the issue names use exactly these keys.
    assert {"aws:PrincipalArn", "aws:PrincipalOrgID", "aws:SourceAccount", "aws:SourceArn"} <= used


def test_trust_policies_use_their_documented_keys() -> None:
    roles = _template("member-roles.yaml")["Resources"]
    member = roles["XRayGuardMemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    forwarder = roles["EventForwarderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert {(op, key) for op, block in member.items() for key in block} == {
        ("ArnEquals", "aws:PrincipalArn"),
        ("StringEquals", "aws:PrincipalOrgID"),
    }
    assert {(op, key) for op, block in forwarder.items() for key in block} == {
        ("StringEquals", "aws:SourceAccount"),
        ("ArnLike", "aws:SourceArn"),
    }


# -- the central template, as packaged and transformed -------------------------------------------------------


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`chalice package` with the merge template, then the SAM transform: the CloudFormation that gets deployed."""
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")}
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run(
        [str(chalice), "package", "--stage", "prod", "--merge-template", str(INFRA / "central.json"), str(out)],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return transform(json.loads((out / "sam.json").read_text()), region="eu-west-1")


def test_packaged_template_gives_each_function_its_role_policy_name_and_the_topic(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    for function, role_name in _lambda_role_names().items():
        logical = "".join(p.title() for p in function.split("_"))
        lambda_function = resources[logical]
        assert lambda_function["Type"] == "AWS::Lambda::Function"
        properties = lambda_function["Properties"]
        # The name the per-function log statement expects: stack xray-guard-<stage> → xray-guard-<stage>-<handler>.
        assert properties["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{function}"}
        assert properties["Role"] == {"Fn::GetAtt": [f"{logical}Role", "Arn"]}
        role = resources[f"{logical}Role"]["Properties"]
        assert role["RoleName"] == role_name
        [policy] = role["Policies"]
        assert policy["PolicyDocument"] == function_policy(function)
        # The quick path's placeholder topic in .chalice/config.json is never what the organization deploys.
        assert properties["Environment"]["Variables"]["XRAY_GUARD_TOPIC_ARN"] == {"Ref": "AlertTopic"}


def test_nothing_deployed_names_a_partition_or_a_region(packaged: dict[str, Any]) -> None:
    texts = {"packaged template": json.dumps(packaged)}
    for path in [*INFRA.glob("*.json"), *INFRA.glob("*.yaml"), *(ROOT / ".chalice").glob("policy-*.json")]:
        texts[path.name] = path.read_text()
    config = chalice_config()
    texts["config.json defaults"] = json.dumps([config["environment_variables"], config["lambda_functions"]])
    for where, text in texts.items():
        assert "arn:aws:" not in text, where
        assert not re.search(r"\b(us|eu|ap|sa|ca|me|af|il|mx|cn)-(gov-)?[a-z]+-[0-9]\b", text), where


def test_sam_transform_failure_is_a_typed_error() -> None:
    broken = {"Transform": "AWS::Serverless-2016-10-31",
              "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": "nope"}}}}  # fmt: skip
    with pytest.raises(TransformError):
        transform(broken, region="eu-west-1")


def test_central_template_bus_policy_table_and_role_names() -> None:
    central = _central()["Resources"]
    bus = central["OrganizationPutEvents"]["Properties"]["Statement"]
    assert "aws:PrincipalOrgID" in bus["Condition"]["StringEquals"]
    table = central["SweepTable"]["Properties"]
    assert {k: table[k] for k in TABLE_KEYS} == TABLE_KEYS
    assert sorted(_lambda_role_names().values()) == [
        "xray-guard-on-change", "xray-guard-scheduled-sweep", "xray-guard-sweep-account",
        "xray-guard-sweep-account-failed",
    ]  # fmt: skip
    assert central["AlertTopic"]["Properties"]["TopicName"] == "xray-guard-alerts"  # what sns:Publish allows
    assert central["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertKey"}
    assert central["AlertKeyAlias"]["Properties"]["AliasName"] == "alias/xray-guard-alerts"  # kms:ResourceAliases


def test_sweep_queue_retries_as_aws_advises_and_the_readme_states_the_worst_case() -> None:
    """Lambda developer guide, "Creating and configuring an Amazon SQS event source mapping": visibility timeout at
    least six times the function timeout; maxReceiveCount at least 5 before the dead-letter queue."""
    queue = _central()["Resources"]["SweepQueue"]["Properties"]
    receives = queue["RedrivePolicy"]["maxReceiveCount"]
    timeout = chalice_config()["lambda_functions"]["sweep_account"]["lambda_timeout"]
    assert receives >= 5
    assert queue["VisibilityTimeout"] >= 6 * timeout
    hours = receives * queue["VisibilityTimeout"] / 3600
    assert f"{hours:g} hours" in (INFRA / "README.md").read_text()


# -- the README's rollout commands use the API as the CloudFormation model defines it ----------------------


def _cloudformation_model() -> dict[str, Any]:
    [path] = (Path(botocore.__file__).parent / "data" / "cloudformation").glob("*/service-2.json*")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    model: dict[str, Any] = json.loads(raw)
    return model


def test_readme_auto_deployment_uses_fields_of_the_model() -> None:
    readme = (INFRA / "README.md").read_text()
    documents = [json.loads(b.replace("$A_ARN", "arn")) for b in re.findall(r'\{"Enabled"[^\n]*\}', readme)]
    assert len(documents) == 2, "StackSet A and StackSet B are created with auto-deployment"
    members = set(_cloudformation_model()["shapes"]["AutoDeployment"]["members"])
    assert "DependsOn" in members  # StackSet B waits for A on auto-deployment (botocore: AutoDeployment.DependsOn)
    assert all(set(d) <= members and d["Enabled"] is True for d in documents)
    assert [d.get("DependsOn") for d in documents] == [None, ["arn"]]
