"""Per-function least privilege: each Lambda role allows what its handler calls, on the resources it calls them
on, and nothing else. Proven two ways: statically (every operation named in chalicelib/ is allowed to some
function) and end to end (each test drives one handler over localaws and reads the call log for its window,
attributing a call to the Lambda role when the caller is the central account and to XRayGuardMember otherwise).

The small policy evaluator below follows the IAM policy reference: ArnLike matches each of the six
colon-separated ARN parts on its own, with * and ? ("IAM JSON policy elements: Condition operators", ARN
condition operators); a Resource's * may run across colons only as the last character of a part ("IAM JSON
policy elements: Resource"); a set operator over a missing multivalued key: ForAllValues is true, ForAnyValue is
false ("Set operators for multivalued context keys"); a single-valued operator over a missing key is false,
its negated form true ("Condition operators", the note on missing keys).
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode

import app as app_module
from chalicelib.errors import RemediationFailed
from chalicelib.runtime import Runtime, build
from chalicelib.storm import SuppressedDrift, TableStorm
from chalicelib.sweep import SweepMessage, SweepStore
from localaws.world import RESPONDER
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World, load_event
from tests.test_key_events import kms_event

ROOT = Path(__file__).parents[1]
CHALICE = ROOT / ".chalice"
# IAM action for an API operation when it is not simply "service:Operation".
ACTION_FOR = {
    "sqs:SendMessageBatch": "sqs:SendMessage",  # batch sends are authorised as sqs:SendMessage
}
# sts:GetCallerIdentity needs no permission ("No permissions are required to perform this operation",
# https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}
LOGS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
# The SQS event source mapping polls with the function's role: "sqs:ReceiveMessage, sqs:DeleteMessage,
# sqs:GetQueueAttributes" (Lambda developer guide, "Using Lambda with Amazon SQS", execution role permissions).
EVENT_SOURCE_MAPPING = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# SNS encrypts with the topic's KMS key using the publisher's permissions: the publisher needs
# kms:GenerateDataKey and kms:Decrypt on it (SNS developer guide, "Encryption at rest", key management).
# localaws (moto) does not call KMS for an encrypted topic, so these never show in the call log.
PUBLISH_TO_ENCRYPTED_TOPIC = {"kms:GenerateDataKey", "kms:Decrypt"}
# X-Ray's "User permissions for encryption" (X-Ray developer guide, security_iam_service-with-iam): whoever configures
# a customer managed key in X-Ray needs kms:CreateGrant (and kms:DescribeKey) on it; X-Ray makes the grant call as the
# caller. localaws's X-Ray does not call KMS, so it never shows in the call log: every role that may call
# xray:PutEncryptionConfig needs it.
PUT_ENCRYPTION_CONFIG_WITH_A_KEY = {"kms:CreateGrant"}
# Nothing is granted ahead of the code that calls it.
RESERVED: dict[str, set[str]] = {}


# -- the policy documents ---------------------------------------------------------------------------------


def chalice_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((CHALICE / "config.json").read_text())
    return config


def handler_names() -> list[str]:
    return sorted(h.name for h in app_module.app.event_sources)


def function_policy(function: str) -> dict[str, Any]:
    """The policy document of a function's role (its own file, `lambda_functions.<name>.iam_policy_file`)."""
    name = chalice_config()["lambda_functions"][function]["iam_policy_file"]
    policy: dict[str, Any] = json.loads((CHALICE / name).read_text())
    return policy


def queue_of(function: str) -> str | None:
    """The SQS queue whose event source mapping invokes the function (app.py), if any."""
    [source] = [h for h in app_module.app.event_sources if h.name == function]
    queue: str | None = getattr(source, "queue", None)
    return queue


def allowed_actions(policy: Mapping[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions |= set(_listed(statement["Action"]))
    return actions


def _listed(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# -- a small IAM evaluator (see the module docstring for the rules it follows) ---------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """* any run of characters, ? one character, everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL)


def arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: the six parts of the ARN matched one by one (the sixth keeps its own colons)."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(_glob(p).match(a) for p, a in zip(pattern_parts, arn_parts, strict=True))


def resource_matches(pattern: str, arn: str) -> bool:
    return pattern == "*" or arn_like(pattern, arn)


Context = Mapping[str, str | list[str]]


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    """Every operator block and every key in it must hold (IAM: AND across keys, OR across a key's values)."""
    for operator, block in condition.items():
        for key, expected in block.items():
            if not _operator_holds(operator, _listed(expected), context.get(key)):
                return False
    return True


_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": lambda want, got: bool(_glob(want).match(got)),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": arn_like,
    "Bool": lambda want, got: want.lower() == got.lower(),
}


def _operator_holds(operator: str, expected: list[str], actual: str | list[str] | None) -> bool:
    quantifier, _, name = operator.rpartition(":")
    negated = "Not" in name
    matcher = _MATCHERS[name.replace("Not", "")]
    if quantifier:  # ForAllValues / ForAnyValue over a multivalued key
        values = [] if actual is None else _listed(actual)
        if quantifier == "ForAllValues":
            return all(any(matcher(w, v) for w in expected) != negated for v in values)
        return any(any(matcher(w, v) for w in expected) != negated for v in values)
    if actual is None:
        return negated
    assert isinstance(actual, str), f"{operator} takes a single-valued key"
    return any(matcher(w, actual) for w in expected) != negated


def allows(policy: Mapping[str, Any], action: str, resource: str, context: Context | None = None) -> bool:
    """Whether an identity policy (Allow statements only, as ours are) allows the request."""
    for statement in policy["Statement"]:
        if action not in _listed(statement["Action"]):
            continue
        if not any(resource_matches(p, resource) for p in _listed(statement["Resource"])):
            continue
        if condition_holds(statement.get("Condition", {}), context or {}):
            return True
    return False


def test_the_evaluator_follows_the_documented_rules() -> None:
    assert arn_like("arn:*:iam::*:role/*/Name", "arn:aws-us-gov:iam::1:role/a/b/Name")
    assert not arn_like("arn:*:iam::*:role/Name", "arn:aws:iam::1:role/path/Name")
    assert not arn_like("arn:*:iam::*:role/Name", "arn:aws:sts::1:assumed-role/Name/s")
    assert not arn_like("arn:aws:iam::*:role/Name", "arn:aws-cn:iam::1:role/Name")
    assert resource_matches(
        "arn:*:logs:*:*:log-group:/aws/lambda/f:*", "arn:aws:logs:r:1:log-group:/aws/lambda/f:log-stream:x"
    )
    forall = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["storm#*"]}}
    assert condition_holds(forall, {"dynamodb:LeadingKeys": ["storm#1#r"]})
    assert not condition_holds(forall, {"dynamodb:LeadingKeys": ["storm#1#r", "sweep-1"]})
    assert condition_holds(forall, {})  # AWS's documented pitfall: why no Scan (no leading key) is granted
    assert not condition_holds({"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/a"}}, {})
    assert condition_holds(
        {"ArnNotLike": {"aws:PrincipalArn": ["arn:*:iam::*:role/X"]}}, {"aws:PrincipalArn": "arn:aws:iam::1:role/Y"}
    )
    assert not condition_holds({"StringEquals": {"aws:SourceAccount": "1"}}, {})


# -- static: every operation the code names is allowed to some function ---------------------------------


def operations_called_by_code() -> set[str]:
    """Every "service:Operation" named in a call_aws(...) or paginate(...) call in chalicelib/."""
    found: set[str] = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if node.func.id in {"call_aws", "_call", "paginate"} and len(strings) >= 2:
                found.add(f"{strings[0]}:{strings[1]}")
    return found


def test_the_code_scan_finds_the_calls() -> None:
    ops = operations_called_by_code()
    assert {"xray:GetEncryptionConfig", "xray:PutEncryptionConfig", "kms:DescribeKey", "sns:Publish"} <= ops


def test_every_operation_in_the_code_is_allowed_to_some_function_and_no_action_is_a_wildcard() -> None:
    granted: set[str] = set()
    for function in handler_names():
        actions = allowed_actions(function_policy(function))
        assert not [a for a in actions if "*" in a], f"{function}: wildcard action"
        granted |= actions
    needed = {ACTION_FOR.get(op, op) for op in operations_called_by_code()} - NO_PERMISSION_NEEDED
    assert needed - granted == set(), "called in chalicelib/ but allowed to no function"


def test_each_function_has_its_own_policy_file_and_chalice_generates_none() -> None:
    config = chalice_config()
    assert config["autogen_policy"] is False
    files = {f: config["lambda_functions"][f]["iam_policy_file"] for f in handler_names()}
    assert len(set(files.values())) == len(files), "two functions share a policy file"
    # A stage-level file would win over the per-function ones (chalice's lookup order), so there is none.
    assert all("iam_policy_file" not in stage for stage in config["stages"].values())
    assert {p.name for p in CHALICE.glob("policy-*.json")} == set(files.values())


@pytest.mark.parametrize("function", handler_names())
def test_platform_permissions_of_each_function(function: str) -> None:
    policy = function_policy(function)
    for name in (f"xray-guard-prod-{function}", f"xray-guard-dev-{function}"):  # packaged and `chalice deploy`
        group = f"arn:aws:logs:eu-west-1:{CENTRAL}:log-group:/aws/lambda/{name}"
        assert allows(policy, "logs:CreateLogGroup", group)
        assert allows(policy, "logs:PutLogEvents", f"{group}:log-stream:2026/01/01/[$LATEST]abc")
    other = f"arn:aws:logs:eu-west-1:{CENTRAL}:log-group:/aws/lambda/xray-guard-prod-someone_else"
    assert not allows(policy, "logs:PutLogEvents", f"{other}:log-stream:x")
    queue = queue_of(function)
    for action in EVENT_SOURCE_MAPPING:
        for name in ("xray-guard-sweep", "xray-guard-sweep-dlq"):
            assert allows(policy, action, f"arn:aws:sqs:eu-west-1:{CENTRAL}:{name}") == (name == queue), action


def test_the_event_handler_touches_only_storm_control_and_delivery_items() -> None:
    policy = function_policy("on_xray_encryption_change")
    table = f"arn:aws-us-gov:dynamodb:us-gov-west-1:{CENTRAL}:table/xray-guard-sweeps"
    storm = {"dynamodb:LeadingKeys": [f"storm#{MEMBER}#{MEMBER_REGION}"]}
    delivery = {"dynamodb:LeadingKeys": ["delivery#6f1d0b4e-1b2c-4d5e-8f90-0123456789ab"]}
    sweep = {"dynamodb:LeadingKeys": ["20260101T000000Z-ab12cd34"]}
    assert allows(policy, "dynamodb:UpdateItem", table, storm)
    assert not allows(policy, "dynamodb:UpdateItem", table, sweep)
    assert not allows(policy, "dynamodb:UpdateItem", table, delivery)
    for action in ("dynamodb:Query", "dynamodb:PutItem"):  # which destinations already took an event
        assert allows(policy, action, table, delivery), action
        assert not allows(policy, action, table, sweep), action
        assert not allows(policy, action, table, storm), action
    assert not [a for a in allowed_actions(policy) if a in {"dynamodb:Scan", "dynamodb:GetItem"}]
    assert not [a for a in allowed_actions(policy) if a.startswith("organizations:")]
    assert not allows(policy, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{CENTRAL}:xray-guard-sweep")


def test_the_alert_key_grant_is_limited_to_the_alert_topic_key() -> None:
    key = f"arn:aws-cn:kms:cn-north-1:{CENTRAL}:key/11111111-2222-4333-8444-555555555555"
    for function in handler_names():
        policy = function_policy(function)
        publishes = "sns:Publish" in allowed_actions(policy)
        context = {"kms:ResourceAliases": ["alias/xray-guard-alerts"]}
        assert allows(policy, "kms:GenerateDataKey", key, context) == publishes
        assert not allows(policy, "kms:Decrypt", key, {"kms:ResourceAliases": ["alias/xray-encryption"]})


# KMS calls that would undo what a key's owner did: xray-guard never re-enables a key, cancels a deletion or edits a
# key policy (README, "The key guard").
NEVER_GRANTED = {
    "kms:EnableKey", "kms:DisableKey", "kms:CancelKeyDeletion", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy",
    "kms:DisableKeyRotation", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:RetireGrant",
    "kms:RevokeGrant", "kms:ImportKeyMaterial", "kms:DeleteImportedKeyMaterial",
}  # fmt: skip


@pytest.mark.parametrize("function", handler_names())
def test_the_grant_for_x_ray_is_only_for_an_aws_service_and_no_role_may_undo_a_key_owners_change(function: str) -> None:
    policy = function_policy(function)
    key = f"arn:aws-us-gov:kms:us-gov-west-1:{CENTRAL}:key/11111111-2222-4333-8444-555555555555"
    writes = "xray:PutEncryptionConfig" in allowed_actions(policy)
    assert allows(policy, "kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "true"}) == writes
    assert not allows(policy, "kms:CreateGrant", key, {"kms:GrantIsForAWSResource": "false"})
    assert not allows(policy, "kms:CreateGrant", key)  # a grant nobody's service asked for
    assert not allowed_actions(policy) & NEVER_GRANTED


# -- end to end: each handler over localaws, its calls attributed by caller account ----------------------


def _central_name(logical_id: str, key: str) -> str:
    """A resource name as infra/central.json fixes it (the names the policy files allow)."""
    resources = json.loads((ROOT / "infra" / "central.json").read_text())["Resources"]
    name: str = resources[logical_id]["Properties"][key]
    return name


TABLE = _central_name("SweepTable", "TableName")


@dataclass
class Central:
    """The central account's resources as infra/central.json creates them, on localaws."""

    world: World
    topic: str
    sweep_queue: str
    failure_queue: str

    def env(self, function: str, **overrides: str) -> dict[str, str]:
        """The function's environment: config.json's defaults plus what infra/central.json sets."""
        template = json.loads((ROOT / "infra" / "central.json").read_text())
        values = {
            "XRAY_GUARD_EXEMPT_PRINCIPALS": template["Parameters"]["ExemptPrincipals"]["Default"],
            "XRAY_GUARD_MODE": "revert",
            "XRAY_GUARD_KMS_KEY": APPROVED_ALIAS,
            "XRAY_GUARD_ACCOUNTS": "org",
            "XRAY_GUARD_TOPIC_ARN": self.topic,
            "XRAY_GUARD_SWEEP_QUEUE_URL": self.sweep_queue,
            "XRAY_GUARD_SWEEP_TABLE": TABLE,
            "XRAY_GUARD_FAILURE_QUEUE_URL": self.failure_queue,
            "XRAY_GUARD_SINKS": "sns,securityhub,eventbridge",  # every destination, so every grant is exercised
            "XRAY_GUARD_RESPONDER_FUNCTION": RESPONDER,  # {"Ref": "OnXrayEncryptionChange"}: the function's name
            "XRAY_GUARD_FIX_KEY_ROTATION": "true",  # so the drivers exercise kms:EnableKeyRotation
            "XRAY_GUARD_ORGANIZATION_ID": "o-abc123def4",
            **overrides,
        }
        function_properties = template["Resources"][_logical_id(function)]["Properties"]
        names = set(function_properties["Environment"]["Variables"])
        assert names <= set(values), names - set(values)
        env = dict(chalice_config()["environment_variables"])
        env.update({name: values[name] for name in names})
        return env

    def runtime(self, function: str, **overrides: str) -> Runtime:
        """The function's runtime as Lambda builds it, on the sessions the world keeps for code under test."""
        world = self.world
        return build(self.env(function, **overrides), CENTRAL, world.code_session(), world.code_member_session())


def _logical_id(function: str) -> str:
    return "".join(part.title() for part in function.split("_"))


@pytest.fixture
def central(world: World) -> Central:
    topic, _inbox = world.alert_inbox()
    sqs = world.client("sqs")
    sweep = sqs.create_queue(QueueName=_central_name("SweepQueue", "QueueName"))["QueueUrl"]
    failures = sqs.create_queue(QueueName=_central_name("FailureQueue", "QueueName"))["QueueUrl"]
    world.create_central_table(TABLE)
    world.create_organization()
    for region in ("us-east-1", "eu-west-1"):
        world.create_key(account=CENTRAL, region=region)
    world.create_key(account=MEMBER, region=MEMBER_REGION)
    for account, region in ((CENTRAL, "us-east-1"), (MEMBER, MEMBER_REGION)):
        world.enable_security_hub(account, region)
    return Central(world, topic, sweep, failures)


@dataclass
class Observed:
    central: set[str]  # actions the Lambda role was asked for
    member: set[str]  # actions XRayGuardMember was asked for

    def add(self, world: World) -> None:
        """The calls since the last add (throttled or failed ones too: the permission was needed)."""
        for call in world.calls():
            action = ACTION_FOR.get(f"{call['service']}:{call['operation']}", f"{call['service']}:{call['operation']}")
            (self.central if call["account"] == CENTRAL else self.member).add(action)
        world.aws.app.calls.clear()


def _drift(world: World, *places: tuple[str, str]) -> None:
    for account, region in places:
        world.put(account=account, region=region, Type="NONE")
    world.aws.set_faults(fail=[])
    world.aws.app.calls.clear()


_SERIAL = itertools.count()


def _central_event() -> dict[str, Any]:
    """A console change in the central account, with unique ids as EventBridge gives every event."""
    event = load_event("console-change-to-none.json")
    n = next(_SERIAL)
    event["id"], event["detail"]["eventID"] = f"6f1d0b4e-central-{n}", f"a1b2c3d4-central-{n}"
    event["account"], event["region"] = CENTRAL, "us-east-1"
    event["detail"]["recipientAccountId"] = CENTRAL
    return event


def drive_on_xray_encryption_change(central: Central, seen: Observed) -> None:
    world = central.world
    responder = central.runtime("on_xray_encryption_change").responder
    _drift(world, (MEMBER, MEMBER_REGION))
    assert responder.on_event(load_event("console-change-to-none.json"))["outcome"] == "reverted"
    seen.add(world)
    _drift(world, (CENTRAL, "us-east-1"))
    assert responder.on_event(_central_event())["outcome"] == "reverted"
    seen.add(world)
    _drift(world, (CENTRAL, "us-east-1"))
    world.aws.set_faults(fail=["sns:Publish"])  # SNS refuses: the alert goes to the failure queue
    with pytest.raises(RemediationFailed):
        responder.on_event(_central_event())
    seen.add(world)
    # The second store: Transaction Search on with aws/spans unencrypted; this key's policy does not let
    # CloudWatch Logs use it, so the association is refused (still asked for: the permission is needed).
    world.aws.set_faults(fail=[])
    world.put(account=CENTRAL, region="us-east-1", Type="KMS", KeyId=APPROVED_ALIAS)
    world.client("xray", CENTRAL, "us-east-1").update_trace_segment_destination(Destination="CloudWatchLogs")
    event = load_event("transaction-search-enabled.json")
    event["account"], event["region"] = CENTRAL, "us-east-1"
    world.aws.app.calls.clear()
    with pytest.raises(RemediationFailed):
        responder.on_event(event)
    seen.add(world)
    # KMS events on the approved key: rotation turned off (reads rotation), the key policy changed (reads policies).
    world.client("xray", CENTRAL, "us-east-1").update_trace_segment_destination(Destination="XRay")
    key = world.kms(CENTRAL, "us-east-1").describe_key(KeyId=APPROVED_ALIAS)["KeyMetadata"]["Arn"]
    for n, fixture in enumerate(["kms-disable-key-rotation.json", "kms-put-key-policy.json"]):
        event = kms_event(fixture, key, str(n))
        event["account"], event["region"] = CENTRAL, "us-east-1"
        world.aws.app.calls.clear()
        assert responder.on_event(event)["decision"] == "compliant"
        seen.add(world)


def drive_scheduled_sweep(central: Central, seen: Observed) -> None:
    world = central.world
    # Set up (not observed): an hour ago, storm control held back two drift alerts; the sweep recaps them.
    an_hour_ago = time.time() - 3600
    storm = TableStorm(lambda: world.client("dynamodb"), TABLE, clock=lambda: an_hour_ago)
    for n in range(5):
        storm.record(SuppressedDrift(MEMBER, MEMBER_REGION, f"event-{n}", "drift-none"), alert_mode=True)
    world.aws.app.calls.clear()
    started = central.runtime("scheduled_sweep").sweeper().start()
    assert (started["storm_recaps"], started["accounts"] >= 1) == (1, True)
    seen.add(world)
    # A central approved key (configured by ARN): its posture read once per sweep with its owner's credentials,
    # the Lambda role's own for a key of the central account, XRayGuardMember's for a key of another account;
    # rotation turned on (XRAY_GUARD_FIX_KEY_ROTATION).
    for account, region in ((CENTRAL, "us-east-1"), (MEMBER, MEMBER_REGION)):
        key = world.kms(account, region).describe_key(KeyId=APPROVED_ALIAS)["KeyMetadata"]["Arn"]
        world.aws.app.calls.clear()
        assert central.runtime("scheduled_sweep", XRAY_GUARD_KMS_KEY=key).sweeper().start()["central_keys"] == 1
        seen.add(world)


def _one_account_sweep(account: str, sweep_id: str) -> str:
    """What the schedule step leaves for one account (set up here, not observed)."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    SweepStore(lambda: ddb, TABLE).begin(sweep_id, 1)
    return SweepMessage(sweep_id, account).to_body()


def _covered(world: World) -> None:
    """Set up (not observed): what the coverage reads find in both accounts, so that each read is made. The central
    account: the responder's rule in its own region, a forwarding rule (with its role) in another, a trail; the
    member: its forwarding rule, role and trail."""
    world.create_responder_rule()
    world.create_forwarding_rule(CENTRAL, "eu-west-1", world.create_forwarder_role(CENTRAL))
    world.create_trail(CENTRAL, "central-trail", IsMultiRegionTrail=True)
    world.create_forwarding_rule(MEMBER, MEMBER_REGION, world.create_forwarder_role(MEMBER))
    world.create_trail(MEMBER, "member-trail", IsMultiRegionTrail=True)


def drive_sweep_account(central: Central, seen: Observed) -> None:
    world = central.world
    sweeper = central.runtime("sweep_account").sweeper()
    _covered(world)
    # account:ListRegions refused: the call is still made (and needs the permission), then the fallback runs.
    regions_refused = "account:ListRegions=AccessDenied"
    for i, (account, region, faults) in enumerate(
        [
            (CENTRAL, "us-east-1", [regions_refused]),  # the home account with the Lambda role: revert there
            (MEMBER, MEMBER_REGION, [regions_refused, "sns:Publish"]),  # through XRayGuardMember; digest refused
        ]
    ):
        body = _one_account_sweep(account, f"sweep-{i}")
        # Transaction Search on with aws/spans unencrypted: the sweep associates the approved key (refused here:
        # this key's policy does not let CloudWatch Logs use it; the call, and so the permission, is still needed).
        world.client("xray", account, region).update_trace_segment_destination(Destination="CloudWatchLogs")
        _drift(world, (account, region))
        world.aws.set_faults(fail=faults)
        if "sns:Publish" in faults:
            with pytest.raises(RemediationFailed):
                sweeper.sweep_account(body)
        else:
            assert sweeper.sweep_account(body)["account"] == account
        seen.add(world)


def drive_sweep_account_failed(central: Central, seen: Observed) -> None:
    world = central.world
    sweeper = central.runtime("sweep_account_failed").sweeper()
    for i, faults in enumerate([[], ["sns:Publish"]]):
        body = _one_account_sweep(MEMBER, f"sweep-failed-{i}")
        _drift(world)
        world.aws.set_faults(fail=faults)
        if faults:
            with pytest.raises(RemediationFailed):
                sweeper.account_failed(body, "test")
        else:
            sweeper.account_failed(body, "test")
        seen.add(world)


DRIVERS: dict[str, Callable[[Central, Observed], None]] = {
    "on_xray_encryption_change": drive_on_xray_encryption_change,
    "scheduled_sweep": drive_scheduled_sweep,
    "sweep_account": drive_sweep_account,
    "sweep_account_failed": drive_sweep_account_failed,
}


def test_every_handler_is_driven() -> None:
    assert set(DRIVERS) == set(handler_names())


def platform_actions(function: str) -> set[str]:
    """What the platform asks of the function's role on its behalf, never seen in localaws's call log."""
    policy = function_policy(function)
    needed = set(LOGS)
    if queue_of(function):
        needed |= EVENT_SOURCE_MAPPING
    if "sns:Publish" in allowed_actions(policy):
        needed |= PUBLISH_TO_ENCRYPTED_TOPIC
    if "xray:PutEncryptionConfig" in allowed_actions(policy):
        needed |= PUT_ENCRYPTION_CONFIG_WITH_A_KEY
    return needed


def member_role_policy() -> dict[str, Any]:
    """The inline policy of XRayGuardMember (infra/member-roles.yaml), as CloudFormation reads the YAML."""
    template, errors = decode(str(ROOT / "infra" / "member-roles.yaml"))
    assert not errors, errors
    assert template is not None
    role = template["Resources"]["XRayGuardMemberRole"]["Properties"]
    [policy] = role["Policies"]
    document: dict[str, Any] = dict(policy["PolicyDocument"])
    # A statement under Fn::If (the central approved keys) is read as deployed with its parameter set.
    document["Statement"] = [s["Fn::If"][1] if "Fn::If" in s else s for s in document["Statement"]]
    return document


@pytest.mark.parametrize("function", handler_names())
def test_each_role_allows_exactly_what_its_handler_calls(central: Central, function: str) -> None:
    seen = Observed(set(), set())
    DRIVERS[function](central, seen)

    allowed = allowed_actions(function_policy(function))
    needed = seen.central - NO_PERMISSION_NEEDED
    assert needed - allowed == set(), f"{function} calls but may not"
    spare = allowed - needed - platform_actions(function) - RESERVED.get(function, set())
    assert spare == set(), f"{function} may but never calls"
    assert platform_actions(function) <= allowed
    member_allowed = allowed_actions(member_role_policy())
    assert seen.member - member_allowed == set(), "XRayGuardMember is asked for more than it allows"
    if function == "sweep_account":  # the one handler that exercises every member call (fallback included)
        assert seen.member | PUT_ENCRYPTION_CONFIG_WITH_A_KEY == member_allowed


@pytest.mark.parametrize("function", handler_names())
def test_each_role_allows_its_calls_on_the_resources_they_touch(function: str) -> None:
    """The named resources, as infra/central.json names them, in each partition."""
    policy = function_policy(function)
    actions = allowed_actions(policy)
    for partition in ("aws", "aws-us-gov", "aws-cn"):
        region = {"aws": "eu-west-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}[partition]
        arn = f"arn:{partition}:%s:{region}:{CENTRAL}:%s"
        sweep_keys = {"dynamodb:LeadingKeys": ["20260101T000000Z-ab12cd34"]}
        if function == "scheduled_sweep":  # it queries only storm-control items (the recap), never a sweep's
            sweep_keys = {"dynamodb:LeadingKeys": ["storm#491234"]}
        if function == "on_xray_encryption_change":  # it queries only an event's delivery records
            sweep_keys = {"dynamodb:LeadingKeys": ["delivery#6f1d0b4e-1b2c-4d5e-8f90-0123456789ab"]}
        touches = {
            "sns:Publish": (arn % ("sns", "xray-guard-alerts"), {}),
            "sts:AssumeRole": (f"arn:{partition}:iam::{MEMBER}:role/XRayGuardMember", {}),
            "dynamodb:Query": (arn % ("dynamodb", f"table/{TABLE}"), sweep_keys),
            "organizations:ListAccounts": ("*", {}),
            "xray:PutEncryptionConfig": ("*", {}),
            "kms:DescribeKey": (arn % ("kms", "key/11111111-2222-4333-8444-555555555555"), {}),
            "events:DescribeRule": (f"arn:{partition}:events:{region}:{MEMBER}:rule/xray-guard-forward-xray-encryption",
                                    {}),
            "events:ListTargetsByRule": (arn % ("events", "rule/xray-guard-prod-OnXrayEncryptionChangeEvent-1A2B3C"),
                                         {}),
            # An organization trail seen from a member: its ARN names the management account.
            "cloudtrail:GetTrailStatus": (f"arn:{partition}:cloudtrail:{region}:{CENTRAL}:trail/org-trail", {}),
            "cloudtrail:GetEventSelectors": (f"arn:{partition}:cloudtrail:{region}:{MEMBER}:trail/own", {}),
            "iam:GetRole": (f"arn:{partition}:iam::{MEMBER}:role/xray-guard-event-forwarder", {}),
        }  # fmt: skip
        for action, (resource, context) in touches.items():
            if action in actions:
                assert allows(policy, action, resource, context), (action, resource)
        if "sqs:SendMessage" in actions:
            queues = {"xray-guard-sweep", "xray-guard-failures"}
            allowed_queues = {q for q in queues if allows(policy, "sqs:SendMessage", arn % ("sqs", q))}
            assert allowed_queues == (
                {"xray-guard-sweep"} if function == "scheduled_sweep" else {"xray-guard-failures"}
            )
        assert not allows(policy, "sns:Publish", arn % ("sns", "someone-elses-topic"))
        assert not allows(policy, "sts:AssumeRole", f"arn:{partition}:iam::{MEMBER}:role/OrganizationAccountAccessRole")
        assert not allows(policy, "iam:GetRole", f"arn:{partition}:iam::{MEMBER}:role/XRayGuardMember")
