"""Table-driven tests of the pure decision: classify, decide, echo and exemption. No AWS here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib.domain import (
    Action,
    Actor,
    Arn,
    EncryptionState,
    EncryptionStatus,
    EncryptionType,
    KeyInfo,
    MissingKey,
    Mode,
    Outcome,
    SpansDestination,
    SpansState,
    UnreadKey,
    Verdict,
)
from chalicelib.policy import (
    UnusableKey,
    classify,
    classify_spans,
    decide,
    is_exempt,
    is_own_echo,
    needs_current_key_details,
    severity,
    unusable_in_both,
)

APPROVED = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-4333-8444-555555555555"
OTHER = "arn:aws:kms:eu-west-1:222222222222:key/99999999-2222-4333-8444-555555555555"
GOOD = KeyInfo(APPROVED, "Enabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
AWS_MANAGED = KeyInfo(OTHER, "Enabled", "AWS", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
CUSTOMER_OTHER = KeyInfo(OTHER, "Enabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
NONE = EncryptionState(EncryptionType.NONE, EncryptionStatus.ACTIVE)
ON_APPROVED = EncryptionState(EncryptionType.KMS, EncryptionStatus.ACTIVE, APPROVED)
UPDATING_APPROVED = EncryptionState(EncryptionType.KMS, EncryptionStatus.UPDATING, APPROVED)
ON_OTHER = EncryptionState(EncryptionType.KMS, EncryptionStatus.ACTIVE, OTHER)
FOREIGN = "arn:aws:kms:eu-west-1:999999999999:key/99999999-2222-4333-8444-555555555555"
ON_FOREIGN = EncryptionState(EncryptionType.KMS, EncryptionStatus.ACTIVE, FOREIGN)
CENTRAL_KEY = KeyInfo(FOREIGN, "Enabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")


@pytest.mark.parametrize(
    ("state", "approved", "current", "require_cmk", "verdict"),
    [
        (ON_APPROVED, GOOD, None, True, Verdict.COMPLIANT),
        (UPDATING_APPROVED, GOOD, None, True, Verdict.COMPLIANT),
        (NONE, GOOD, None, True, Verdict.DRIFT_NONE),
        (NONE, GOOD, None, False, Verdict.DRIFT_NONE),
        (ON_OTHER, GOOD, AWS_MANAGED, True, Verdict.DRIFT_AWS_MANAGED),
        (ON_OTHER, GOOD, AWS_MANAGED, False, Verdict.COMPLIANT),
        (ON_OTHER, GOOD, CUSTOMER_OTHER, True, Verdict.DRIFT_OTHER_KEY),
        (ON_OTHER, GOOD, CUSTOMER_OTHER, False, Verdict.DRIFT_OTHER_KEY),
        (ON_OTHER, GOOD, MissingKey(OTHER), True, Verdict.DRIFT_OTHER_KEY),  # a key we cannot even see
        (NONE, MissingKey("alias/xray-encryption"), None, True, Verdict.KEY_UNUSABLE),
        (
            ON_APPROVED,
            KeyInfo(APPROVED, "Disabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            None,
            True,
            Verdict.KEY_UNUSABLE,
        ),
        (
            NONE,
            KeyInfo(APPROVED, "PendingDeletion", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            None,
            True,
            Verdict.KEY_UNUSABLE,
        ),
        (NONE, KeyInfo(APPROVED, "Enabled", "CUSTOMER", "RSA_2048", "SIGN_VERIFY"), None, True, Verdict.KEY_UNUSABLE),
        # A multi-Region key whose primary is being changed is usable (KMS KeyState "Updating").
        (
            ON_APPROVED,
            KeyInfo(APPROVED, "Updating", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            None,
            True,
            Verdict.COMPLIANT,
        ),
        # The approved key must be customer-managed, whatever REQUIRE_CMK says about the key X-Ray may use.
        (
            ON_APPROVED,
            KeyInfo(APPROVED, "Enabled", "AWS", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            None,
            False,
            Verdict.KEY_UNUSABLE,
        ),
        # A key in another account is drift without describing it; a central approved key there is compliant.
        (ON_FOREIGN, GOOD, None, True, Verdict.DRIFT_OTHER_KEY),
        (ON_FOREIGN, GOOD, None, False, Verdict.DRIFT_OTHER_KEY),
        (ON_FOREIGN, CENTRAL_KEY, None, True, Verdict.COMPLIANT),
        # A key in use that could not be described is not proven allowed: drift, and the revert may go ahead.
        (ON_OTHER, GOOD, UnreadKey(OTHER, "AccessDeniedException"), False, Verdict.DRIFT_OTHER_KEY),
    ],
)
def test_classify(
    state: EncryptionState,
    approved: KeyInfo | MissingKey,
    current: KeyInfo | MissingKey | UnreadKey | None,
    require_cmk: bool,
    verdict: Verdict,
) -> None:
    assessment = classify(state, approved, current, require_cmk=require_cmk, account="222222222222")
    assert assessment.verdict is verdict
    assert assessment.reason
    assert (assessment.unusable is not None) is (verdict is Verdict.KEY_UNUSABLE)


DISABLED = KeyInfo(APPROVED, "Disabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
SPANS_ON_APPROVED = SpansState(
    SpansDestination.CLOUDWATCH_LOGS, "ACTIVE", group_read=True, group_exists=True, key_arn=APPROVED
)


def test_an_unusable_approved_key_is_assessed_as_its_problem_and_where_each_store_stands() -> None:
    xray = classify(ON_APPROVED, DISABLED, None, require_cmk=True, account="222222222222")
    spans = classify_spans(SPANS_ON_APPROVED, MissingKey("alias/xray-encryption"))

    assert xray.unusable == UnusableKey("key state is Disabled", ON_APPROVED)
    assert (
        xray.reason == f"approved key cannot be used: key state is Disabled (X-Ray currently: KMS {APPROVED}, ACTIVE)"
    )
    assert spans.unusable == UnusableKey("key alias/xray-encryption does not exist", SPANS_ON_APPROVED)
    assert spans.reason == (
        "approved key cannot be used: key alias/xray-encryption does not exist "
        f"(spans: destination CloudWatchLogs (ACTIVE), aws/spans on {APPROVED})"
    )


def test_both_stores_reporting_the_same_problem_read_as_one_reason_naming_it_once() -> None:
    xray, spans = UnusableKey("key state is Disabled", NONE), UnusableKey("key state is Disabled", SPANS_ON_APPROVED)

    assert unusable_in_both(xray, spans) == (
        "approved key cannot be used: key state is Disabled (X-Ray currently: NONE (AWS-owned key), ACTIVE; "
        f"spans: destination CloudWatchLogs (ACTIVE), aws/spans on {APPROVED})"
    )


def test_stores_reporting_different_problems_have_no_one_reason() -> None:
    xray = UnusableKey("key state is Disabled", NONE)
    spans = UnusableKey("key state is PendingDeletion", SPANS_ON_APPROVED)

    assert unusable_in_both(xray, spans) is None


@pytest.mark.parametrize(
    ("state", "approved_arn", "needed"),
    [
        (NONE, APPROVED, False),
        (ON_APPROVED, APPROVED, False),
        (ON_OTHER, APPROVED, True),
        (ON_OTHER, None, True),
        (ON_FOREIGN, APPROVED, False),  # another account's key: never DescribeKey it
        (ON_FOREIGN, FOREIGN, False),
    ],
)
def test_current_key_is_described_only_when_it_is_another_key_of_the_same_account(
    state: EncryptionState, approved_arn: str | None, needed: bool
) -> None:
    assert needs_current_key_details(state, approved_arn, "222222222222") is needed


@pytest.mark.parametrize(
    ("verdict", "mode", "exempt", "action"),
    [
        (Verdict.COMPLIANT, Mode.REVERT, False, Action.NOTHING),
        (Verdict.COMPLIANT, Mode.ALERT, True, Action.NOTHING),
        (Verdict.DRIFT_NONE, Mode.REVERT, False, Action.REVERT),
        (Verdict.DRIFT_AWS_MANAGED, Mode.REVERT, False, Action.REVERT),
        (Verdict.DRIFT_OTHER_KEY, Mode.REVERT, False, Action.REVERT),
        (Verdict.DRIFT_NONE, Mode.REVERT, True, Action.ALERT),
        (Verdict.DRIFT_NONE, Mode.ALERT, False, Action.ALERT),
        (Verdict.KEY_UNUSABLE, Mode.REVERT, False, Action.ALERT),
        (Verdict.ERROR, Mode.REVERT, False, Action.ALERT),
    ],
)
def test_decide(verdict: Verdict, mode: Mode, exempt: bool, action: Action) -> None:
    assert decide(verdict, mode=mode, actor_exempt=exempt) is action


def _actor(arn: str, principal: str, session: str | None, ua: str) -> Actor:
    return Actor(
        arn=arn, type="AssumedRole", principal_arn=principal, session_name=session, user_agent=ua, source_ip=None
    )


UA = "Boto3/1.44.8 md/Botocore#1.44.8 Botocore/1.44.8 xray-guard/0.1.0"
MEMBER_ROLE = "arn:aws:iam::222222222222:role/XRayGuardMember"


@pytest.mark.parametrize(
    ("actor", "echo"),
    [
        (_actor("arn:aws:sts::2:assumed-role/XRayGuardMember/xray-guard", MEMBER_ROLE, "xray-guard", UA), True),
        (
            _actor(
                "arn:aws:sts::1:assumed-role/xray-guard-prod/xray-guard-prod-on_x",
                "arn:aws:iam::1:role/xray-guard-prod",
                "xray-guard-prod-on_x",
                UA,
            ),
            True,
        ),
        # The marker alone (forgeable user agent) is not enough ...
        (_actor("arn:aws:sts::2:assumed-role/Admin/alice", "arn:aws:iam::2:role/Admin", "alice", UA), False),
        # ... nor the role alone without the marker (someone using the member role by hand).
        (
            _actor("arn:aws:sts::2:assumed-role/XRayGuardMember/xray-guard", MEMBER_ROLE, "xray-guard", "aws-cli/2"),
            False,
        ),
        (_actor("arn:aws:sts::2:assumed-role/XRayGuardMember/human", MEMBER_ROLE, "human", UA), False),
        (_actor("arn:aws:iam::2:user/xray-guard", "arn:aws:iam::2:user/xray-guard", None, UA), False),
    ],
)
def test_own_echo_needs_role_session_and_marker(actor: Actor, echo: bool) -> None:
    assert is_own_echo(actor, "XRayGuardMember", home_account="1") is echo


@pytest.mark.parametrize(
    ("arn", "principal", "patterns", "exempt"),
    [
        (
            "arn:aws:sts::2:assumed-role/SecurityBreakGlass/x",
            "arn:aws:iam::2:role/SecurityBreakGlass",
            ["arn:aws:iam::*:role/SecurityBreakGlass"],
            True,
        ),
        ("arn:aws:iam::2:user/bob", "arn:aws:iam::2:user/bob", ["arn:aws:iam::*:user/bob"], True),
        (
            "arn:aws:sts::2:assumed-role/SecurityBreakGlassX/x",
            "arn:aws:iam::2:role/SecurityBreakGlassX",
            ["arn:aws:iam::*:role/SecurityBreakGlass"],
            False,
        ),
        ("arn:aws:sts::2:assumed-role/Admin/x", "arn:aws:iam::2:role/Admin", [], False),
        # Regex metacharacters in patterns are literal: only * is a wildcard.
        ("arn:aws:iam::2:role/a.b", "arn:aws:iam::2:role/a.b", ["arn:aws:iam::*:role/a?b"], False),
        ("arn:aws-us-gov:iam::2:role/BG", "arn:aws-us-gov:iam::2:role/BG", ["arn:aws:iam::*:role/BG"], False),
    ],
)
def test_exempt_patterns(arn: str, principal: str, patterns: list[str], exempt: bool) -> None:
    assert is_exempt(_actor(arn, principal, "s", ""), patterns) is exempt


@pytest.mark.parametrize(
    ("verdict", "outcome", "expected"),
    [
        (Verdict.DRIFT_NONE, Outcome.REVERTED, "low"),
        (Verdict.DRIFT_NONE, Outcome.REVERT_FAILED, "critical"),
        (Verdict.DRIFT_NONE, Outcome.ALERTED, "high"),
        (Verdict.KEY_UNUSABLE, Outcome.ALERTED, "critical"),
        (Verdict.DRIFT_AWS_MANAGED, Outcome.ALERTED, "medium"),
    ],
)
def test_severity(verdict: Verdict, outcome: Outcome, expected: str) -> None:
    assert severity(verdict, outcome) == expected


def test_decision_modules_do_not_import_the_aws_sdk() -> None:
    pure = ["policy.py", "domain.py", "events.py", "settings.py", "findings.py", "keyposture.py"]
    for name in pure:
        tree = ast.parse((Path(__file__).parents[1] / "chalicelib" / name).read_text())
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        } | {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"boto3", "botocore"}, name


def test_the_decision_depends_on_domain_values_only() -> None:
    """policy.py decides on domain values: it imports no configuration, adapter or pipeline module."""
    tree = ast.parse((Path(__file__).parents[1] / "chalicelib" / "policy.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {m for m in modules if m.startswith("chalicelib.")} == {"chalicelib.domain"}


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("arn:aws:kms:eu-west-1:111122223333:key/1234", ("aws", "kms", "eu-west-1", "111122223333", "key/1234")),
        ("arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/x", ("aws-us-gov", "kms", "us-gov-west-1",
                                                                    "111122223333", "alias/x")),
        ("arn:aws:logs:us-east-1:111122223333:log-group:aws/spans:*", ("aws", "logs", "us-east-1", "111122223333",
                                                                       "log-group:aws/spans:*")),
        ("arn:aws:iam::111122223333:role/path/name", ("aws", "iam", "", "111122223333", "role/path/name")),
        ("arn:aws-cn:kms:cn-north-1:111122223333:key/1234", ("aws-cn", "kms", "cn-north-1", "111122223333",
                                                             "key/1234")),
        ("arn:aws:s3:::trail-bucket", ("aws", "s3", "", "", "trail-bucket")),
        ("arn:aws:lambda:eu-west-1:111122223333:function:xray-guard-prod:live", ("aws", "lambda", "eu-west-1",
                                                                                 "111122223333",
                                                                                 "function:xray-guard-prod:live")),
        ("arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail", ("aws", "cloudtrail", "us-east-1",
                                                                       "111122223333", "trail/org-trail")),
    ],
)  # fmt: skip
def test_an_arn_is_read_into_its_parts_the_resource_keeping_its_colons(text: str, parts: tuple[str, ...]) -> None:
    arn = Arn.of(text)
    assert (arn.partition, arn.service, arn.region, arn.account, arn.resource) == parts
    assert Arn.parse(text) == arn


@pytest.mark.parametrize("text", ["alias/xray-encryption", "1234abcd-12ab", "111122223333", "arn:aws:kms", ""])
def test_what_is_not_an_arn_is_none_or_a_value_error(text: str) -> None:
    assert Arn.parse(text) is None
    with pytest.raises(ValueError, match="not an ARN"):
        Arn.of(text)
