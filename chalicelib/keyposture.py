"""The approved key's posture, as pure rules: rotation and key policy judged against the remediation guide's best
practices ("turn on automatic key rotation", "keep the existing root account statement", "least privilege"). No AWS
SDK import here (a test checks it): the adapter (chalicelib.kms) reads, this judges.

Policy rules, exact (table-driven tests in tests/test_keyposture.py):

- **P1** (high): the `default` policy has an unconditioned `Allow` of `kms:*` (or `*`) on `Resource "*"` to the key
  owner's account root. Without it IAM policies no longer apply to the key ("Allows access to the AWS account and
  enables IAM policies", KMS developer guide, default key policy).
- **P2** (critical): no `Allow` gives a decrypt-capable action (any glob matching `kms:Decrypt`, `kms:ReEncryptFrom`,
  `kms:CreateGrant` or `kms:PutKeyPolicy`; a `NotAction` unless it names all four) to `"*"` or to a principal outside
  the organization, unless a `StringEquals`/`StringLike`/`ArnEquals`/`ArnLike` condition (never `...IfExists`) on
  `aws:PrincipalOrgID`, `aws:PrincipalAccount`, `kms:CallerAccount` or `aws:PrincipalArn` pins the caller to the
  organization. Service principals are out of P2's scope.
- **P3** (medium): an `xray.amazonaws.com` statement, if present, allows no more than `kms:GenerateDataKey` and
  `kms:Decrypt` (the guide's statement).
- **rotation** (medium): on, for usable keys with origin `AWS_KMS`; a period over 365 days is weak.

"Inside the organization" is the key owner's account, the accounts the caller names as the organization's (the
explicit XRAY_GUARD_ACCOUNTS list, and xray-guard's own account), and, through `aws:PrincipalOrgID`, the
organization XRAY_GUARD_ORGANIZATION_ID names. xray-guard does not list the organization's accounts to judge a key
policy: a statement naming another account without such a condition is reported, and the words say how to pin it.
IAM action names and condition operators and keys are compared case-insensitively, as IAM does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chalicelib.domain import Arn, KeyPosture, PostureProblem, RotationStatus, Severity

DECRYPT_CAPABLE = ("kms:Decrypt", "kms:ReEncryptFrom", "kms:CreateGrant", "kms:PutKeyPolicy")
XRAY_SERVICE = "xray.amazonaws.com"
XRAY_ACTIONS = frozenset({"kms:generatedatakey", "kms:decrypt"})
MAX_ROTATION_DAYS = 365
PINNING_OPERATORS = frozenset({"stringequals", "stringlike", "arnequals", "arnlike"})
_ORG_KEY = "aws:principalorgid"
_ACCOUNT_KEYS = frozenset({"aws:principalaccount", "kms:calleraccount"})
_ARN_KEY = "aws:principalarn"
_ACCOUNT = re.compile(r"^[0-9]{12}$")
# KMS shows a principal whose IAM user or role was deleted as its unique id (AIDA..., AROA...): it names nobody who
# can call (KMS developer guide, "Key policies": principals in key policies; assumption: such ids grant nothing).
_UNIQUE_ID = re.compile(r"^A(IDA|ROA)[A-Z0-9]{12,}$")


class PolicyUnreadable(ValueError):
    """A key policy that is not a JSON policy document (KMS never returns one; a corrupt answer would be)."""


@dataclass(frozen=True)
class Organization:
    """Who counts as inside: the key owner's account, the accounts xray-guard knows, and the organization id."""

    key_owner: str
    accounts: frozenset[str] = frozenset()
    organization_id: str | None = None

    def knows(self, account: str) -> bool:
        return account == self.key_owner or account in self.accounts


def judge(
    policies: Mapping[str, str], rotation: RotationStatus | None, org: Organization, *, fixed: str = ""
) -> KeyPosture:
    """The posture from every key policy (name → document) and the rotation status (None: not applicable)."""
    problems: list[PostureProblem] = []
    for name, document in sorted(policies.items()):
        statements = _statements(name, document)
        if name == "default" and not any(_is_root_statement(s, org.key_owner) for s in statements):
            problems.append(
                PostureProblem("P1", "no account-root statement; IAM policies no longer apply", Severity.HIGH)
            )
        problems += [p for i, s in enumerate(statements) if (p := _p2(name, i, s, org)) is not None]
        problems += [p for i, s in enumerate(statements) if (p := _p3(name, i, s)) is not None]
    problems += judge_rotation(rotation)
    return KeyPosture.of(tuple(problems), fixed=fixed)


def judge_rotation(rotation: RotationStatus | None) -> list[PostureProblem]:
    if rotation is None:
        return []
    if not rotation.enabled:
        return [PostureProblem("rotation", "automatic key rotation is off", Severity.MEDIUM)]
    if rotation.period_days is not None and rotation.period_days > MAX_ROTATION_DAYS:
        words = f"rotation period is {rotation.period_days} days (over {MAX_ROTATION_DAYS})"
        return [PostureProblem("rotation", words, Severity.MEDIUM)]
    return []


def rotation_applies(origin: str, usable: bool) -> bool:
    """Rotation is judged for usable keys whose material KMS made (GetKeyRotationStatus refuses other origins)."""
    return usable and origin == "AWS_KMS"


# -- the rules ---------------------------------------------------------------------------------------------------


def _statements(name: str, document: str) -> list[Mapping[str, Any]]:
    try:
        parsed = json.loads(document)
    except ValueError as e:
        raise PolicyUnreadable(f"key policy {name!r} is not JSON ({e})") from e
    statements = parsed.get("Statement") if isinstance(parsed, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise PolicyUnreadable(f"key policy {name!r} has no list of statements")
    return statements


def _listed(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _allows(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Effect", "")).lower() == "allow"


def _is_root_statement(statement: Mapping[str, Any], owner: str) -> bool:
    if not _allows(statement) or statement.get("Condition") or "NotAction" in statement or "NotPrincipal" in statement:
        return False
    actions = {a.lower() for a in _listed(statement.get("Action"))}
    if not actions & {"kms:*", "*"} or "*" not in _listed(statement.get("Resource")):
        return False
    principal = statement.get("Principal")
    aws = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
    # KMS accepts the bare account id and stores the root ARN, in any partition.
    return any(p == owner or re.fullmatch(rf"arn:aws[a-z-]*:iam::{owner}:root", p) for p in aws)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE)


def _decrypt_capable(statement: Mapping[str, Any]) -> list[str]:
    """The decrypt-capable actions a statement allows (each of the four it lets through)."""
    if "NotAction" in statement:
        excluded = _listed(statement["NotAction"])
        return [a for a in DECRYPT_CAPABLE if not any(_glob(p).match(a) for p in excluded)]
    patterns = _listed(statement.get("Action"))
    return [a for a in DECRYPT_CAPABLE if any(_glob(p).match(a) for p in patterns)]


def _outsiders(statement: Mapping[str, Any], org: Organization) -> list[str]:
    """The principals of a statement that are outside the organization, as words ("anyone (\"*\")", an account)."""
    if "NotPrincipal" in statement:
        return ['everyone but the NotPrincipal ("NotPrincipal" with "Allow")']
    principal = statement.get("Principal")
    if principal == "*":
        return ['anyone ("*")']
    if not isinstance(principal, dict):
        return []
    found: list[str] = []
    for kind, value in principal.items():
        if kind == "Service":
            continue  # out of P2's scope
        for name in _listed(value):
            if name == "*":
                found.append('anyone ("*")')
            elif kind != "AWS":
                found.append(f"{kind} principal {name}")
            elif not _UNIQUE_ID.match(name):
                account = _account_of(name)
                if account is None or not org.knows(account):
                    found.append(f"{name} (account {account or 'unknown'})")
    return found


def _account_of(principal: str) -> str | None:
    if _ACCOUNT.match(principal):
        return principal
    arn = Arn.parse(principal)
    return arn.account if arn is not None and _ACCOUNT.match(arn.account) else None


def _pinned(statement: Mapping[str, Any], org: Organization) -> bool:
    """Whether a condition pins the caller to the organization (see the module docstring)."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        if str(operator).lower() not in PINNING_OPERATORS or not isinstance(block, dict):
            continue
        for key, values in block.items():
            if _values_inside(str(key).lower(), _listed(values), org):
                return True
    return False


def _values_inside(key: str, values: list[str], org: Organization) -> bool:
    if not values:
        return False
    if key == _ORG_KEY:
        return org.organization_id is not None and all(v == org.organization_id for v in values)
    if key in _ACCOUNT_KEYS:
        return all(org.knows(v) for v in values)
    if key == _ARN_KEY:
        return all((a := _account_of(v)) is not None and org.knows(a) for v in values)
    return False


def _where(name: str, index: int, statement: Mapping[str, Any]) -> str:
    sid = statement.get("Sid")
    label = f"statement {sid!r}" if isinstance(sid, str) and sid else f"statement #{index + 1}"
    return label if name == "default" else f"{label} of the {name} policy"


def _p2(name: str, index: int, statement: Mapping[str, Any], org: Organization) -> PostureProblem | None:
    if not _allows(statement):
        return None
    actions = _decrypt_capable(statement)
    outsiders = _outsiders(statement, org) if actions else []
    if not outsiders or _pinned(statement, org):
        return None
    words = (
        f"{_where(name, index, statement)} lets {', '.join(outsiders)} call {', '.join(actions)} without a condition "
        "pinning the organization (aws:PrincipalOrgID, aws:PrincipalAccount, kms:CallerAccount or aws:PrincipalArn)"
    )
    if org.organization_id is None and _ORG_KEY in json.dumps(statement.get("Condition", {})).lower():
        words += " (XRAY_GUARD_ORGANIZATION_ID is not set, so no aws:PrincipalOrgID value can be confirmed as yours)"
    return PostureProblem("P2", words, Severity.CRITICAL)


def _p3(name: str, index: int, statement: Mapping[str, Any]) -> PostureProblem | None:
    principal = statement.get("Principal")
    services = _listed(principal.get("Service")) if isinstance(principal, dict) else []
    if not _allows(statement) or XRAY_SERVICE not in services:
        return None
    if "NotAction" in statement:
        extra = ["every action but " + ", ".join(_listed(statement["NotAction"]))]
    else:
        extra = [a for a in _listed(statement.get("Action")) if a.lower() not in XRAY_ACTIONS]
    if not extra:
        return None
    words = f"{_where(name, index, statement)} lets X-Ray do more than kms:GenerateDataKey and kms:Decrypt: "
    return PostureProblem("P3", words + ", ".join(extra), Severity.MEDIUM)
