"""The IAM policy files allow exactly what the code calls: no wildcard actions, nothing missing, nothing spare."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# IAM action for an API operation when it is not simply "service:Operation".
ACTION_FOR = {
    "sqs:SendMessageBatch": "sqs:SendMessage",  # batch sends are authorised as sqs:SendMessage
}
# sts:GetCallerIdentity needs no permission ("No permissions are required to perform this operation",
# https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}
# Actions used by the platform on the function's behalf, not by our code.
PLATFORM = {
    "logs:CreateLogGroup": "Lambda writes the function's logs",
    "logs:CreateLogStream": "Lambda writes the function's logs",
    "logs:PutLogEvents": "Lambda writes the function's logs",
    "sqs:ReceiveMessage": "the SQS event source mapping polls the sweep queues",
    "sqs:DeleteMessage": "the SQS event source mapping deletes handled messages",
    "sqs:GetQueueAttributes": "the SQS event source mapping reads the queue",
    "kms:GenerateDataKey": "publishing to the KMS-encrypted topic / queues",
    "kms:Decrypt": "reading the KMS-encrypted sweep queues",
}


def operations_called_by_code() -> set[str]:
    """Every "service:Operation" named in a call_aws(...) or paginate(...) call in chalicelib/."""
    found: set[str] = set()
    for path in (ROOT / "chalicelib").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if node.func.id in {"call_aws", "_call", "paginate"} and len(strings) >= 2:
                found.add(f"{strings[0]}:{strings[1]}")
    return found


def allowed_actions(policy: dict[str, object]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:  # type: ignore[attr-defined]
        assert statement["Effect"] == "Allow"
        value = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


def test_the_code_scan_finds_the_calls() -> None:
    ops = operations_called_by_code()
    assert {"xray:GetEncryptionConfig", "xray:PutEncryptionConfig", "kms:DescribeKey", "sns:Publish"} <= ops


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_lambda_policy_allows_exactly_what_is_called(stage: str) -> None:
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    allowed = allowed_actions(policy)
    needed = {ACTION_FOR.get(op, op) for op in operations_called_by_code()} - NO_PERMISSION_NEEDED
    assert not [a for a in allowed if "*" in a], "wildcard actions"
    assert needed - allowed == set(), "called but not allowed"
    assert allowed - needed - set(PLATFORM) == set(), "allowed but never used"


def test_chalice_does_not_generate_policies() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage, values in config["stages"].items():
        assert values["iam_policy_file"] == f"policy-{stage}.json"
