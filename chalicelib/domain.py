"""Domain values shared by the pure decision logic and the adapters. No AWS SDK here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """What xray-guard does about drift: report it, or put the approved key back (and verify)."""

    ALERT = "alert"
    REVERT = "revert"


class Trigger(StrEnum):
    """What started a check."""

    EVENT = "event"  # a CloudTrail event through EventBridge
    SWEEP = "sweep"  # the scheduled sweep
    AUDIT = "audit"  # the operator's audit command


class Severity(StrEnum):
    """Alert severity, most severe first (Security Hub's labels are the upper-case forms)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class SinkName(StrEnum):
    """Destinations a finding can go to (XRAY_GUARD_SINKS)."""

    SNS = "sns"  # email / Slack through the alert topic (with storm control and the failure queue)
    SECURITY_HUB = "securityhub"  # AWS Security Hub CSPM, in the finding's own account and region
    EVENTBRIDGE = "eventbridge"  # the central account's default bus, for your own routing


class EncryptionType(StrEnum):
    NONE = "NONE"
    KMS = "KMS"


class EncryptionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    UPDATING = "UPDATING"


@dataclass(frozen=True)
class EncryptionState:
    """X-Ray's live encryption configuration in one account and region.

    X-Ray returns KeyId as the key ARN, and omits it when Type is NONE
    (https://docs.aws.amazon.com/xray/latest/api/API_EncryptionConfig.html).
    """

    type: EncryptionType
    status: EncryptionStatus
    key_arn: str | None = None

    def describe(self) -> str:
        if self.type is EncryptionType.NONE:
            return f"NONE (AWS-owned key), {self.status}"
        return f"KMS {self.key_arn}, {self.status}"

    def to_json(self) -> dict[str, str | None]:
        """The one machine form of a state (findings, decision log lines and audit rows share it)."""
        return {"type": self.type.value, "key_id": self.key_arn, "status": self.status.value}


SPANS_LOG_GROUP = "aws/spans"


class SpansDestination(StrEnum):
    """Where X-Ray sends spans (botocore xray model, TraceSegmentDestination), or `unavailable` where the region
    does not offer Transaction Search."""

    XRAY = "XRay"
    CLOUDWATCH_LOGS = "CloudWatchLogs"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class SpansState:
    """X-Ray's second trace store: the destination of spans and, when read, the `aws/spans` log group's KMS key.

    With Transaction Search (Destination CloudWatchLogs) every span lands in the CloudWatch Logs log group
    `aws/spans`, protected by that log group's key, not by X-Ray's EncryptionConfig (botocore xray model,
    CloudWatchLogsConfiguration.SpansLogGroupKmsKeyId).
    """

    destination: SpansDestination
    status: str | None  # PENDING | ACTIVE (TraceSegmentDestinationStatus); None when unavailable
    group_read: bool = False  # whether DescribeLogGroups was asked
    group_exists: bool = False
    key_arn: str | None = None  # the log group's kmsKeyId

    def describe(self) -> str:
        if self.destination is SpansDestination.UNAVAILABLE:
            return "Transaction Search not offered in this region"
        where = f"destination {self.destination.value} ({self.status})"
        if not self.group_read:
            return where
        if not self.group_exists:
            return f"{where}, {SPANS_LOG_GROUP} not created yet"
        return f"{where}, {SPANS_LOG_GROUP} " + (f"on {self.key_arn}" if self.key_arn else "without a KMS key")

    def to_json(self) -> dict[str, object]:
        return {
            "destination": self.destination.value,
            "status": self.status,
            "log_group_exists": self.group_exists if self.group_read else None,
            "key_id": self.key_arn,
        }


@dataclass(frozen=True)
class KeyInfo:
    """What kms:DescribeKey says about a key, reduced to what the decision needs."""

    arn: str
    state: str  # Enabled | Disabled | PendingDeletion | PendingImport | Unavailable | ...
    key_manager: str  # CUSTOMER | AWS
    key_spec: str  # SYMMETRIC_DEFAULT | RSA_2048 | ...
    key_usage: str  # ENCRYPT_DECRYPT | SIGN_VERIFY | ...
    origin: str = "AWS_KMS"  # AWS_KMS | EXTERNAL | AWS_CLOUDHSM | EXTERNAL_KEY_STORE
    deletion_date: str | None = None  # ISO 8601 UTC, while PendingDeletion (KeyMetadata.DeletionDate)
    primary_arn: str | None = None  # a multi-Region key's primary (MultiRegionConfiguration.PrimaryKey.Arn)

    @property
    def usable(self) -> bool:
        return self.state in USABLE_KEY_STATES

    @property
    def account(self) -> str:
        return key_account(self.arn) or ""

    @property
    def unusable_reason(self) -> str | None:
        """Why this key cannot serve as the approved key, or None when it can."""
        if self.state not in USABLE_KEY_STATES:
            return f"key state is {self.state}"
        if self.key_spec != "SYMMETRIC_DEFAULT" or self.key_usage != "ENCRYPT_DECRYPT":
            return f"key is {self.key_spec}/{self.key_usage}; X-Ray needs a symmetric encryption key"
        if self.key_manager != "CUSTOMER":
            return f"key is managed by {self.key_manager}, not customer-managed: it has no key policy you control"
        return None


# KMS KeyState values a key can be used in: `Updating` is a multi-Region key whose primary is being changed
# (KMS model, KeyMetadata.KeyState; "Key states of AWS KMS keys" in the KMS developer guide). Every other state of
# the model's enum is unusable: Creating, Disabled, PendingDeletion, PendingReplicaDeletion, PendingImport,
# Unavailable (and a state the model may add later: unusable until xray-guard knows it).
USABLE_KEY_STATES = frozenset({"Enabled", "Updating"})


@dataclass(frozen=True)
class Arn:
    """An ARN's parts: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (the resource may hold colons of its own)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        """The parts of `text`, or None if it is not an ARN (a key id, an alias name, an account id ...)."""
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(*parts[1:])

    @classmethod
    def of(cls, text: str) -> Arn:
        """The parts of a value already known to be an ARN (validated settings, or an ARN AWS returned)."""
        arn = cls.parse(text)
        if arn is None:
            raise ValueError(f"not an ARN: {text!r}")
        return arn


def key_account(key_arn: str) -> str | None:
    """The account that owns a KMS key or alias ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID), if it is an ARN."""
    arn = Arn.parse(key_arn)
    return arn.account if arn is not None and arn.service == "kms" else None


@dataclass(frozen=True)
class MissingKey:
    """The approved key reference does not resolve to any key (NotFoundException)."""

    ref: str

    @property
    def unusable_reason(self) -> str:
        return f"key {self.ref} does not exist"


@dataclass(frozen=True)
class UnreadKey:
    """A key X-Ray uses that could not be described (denied or failed): classified without its details."""

    arn: str
    error: str


@dataclass(frozen=True)
class Target:
    """One account and region xray-guard is responsible for."""

    account: str
    region: str


class Verdict(StrEnum):
    """The vocabulary shared by alerts, logs, the sweep digest and the audit command."""

    COMPLIANT = "compliant"
    DRIFT_NONE = "drift-none"
    DRIFT_AWS_MANAGED = "drift-aws-managed"
    DRIFT_OTHER_KEY = "drift-other-key"
    DRIFT_SPANS_UNENCRYPTED = "drift-spans-unencrypted"
    DRIFT_SPANS_OTHER_KEY = "drift-spans-other-key"
    KEY_UNUSABLE = "key-unusable"
    KEY_ALIAS_MISSING = "key-alias-missing"  # the approved alias was just deleted (a KMS DeleteAlias event)
    ERROR = "error"

    @property
    def is_drift(self) -> bool:
        return self in {
            Verdict.DRIFT_NONE,
            Verdict.DRIFT_AWS_MANAGED,
            Verdict.DRIFT_OTHER_KEY,
            Verdict.DRIFT_SPANS_UNENCRYPTED,
            Verdict.DRIFT_SPANS_OTHER_KEY,
        }


class Action(StrEnum):
    NOTHING = "nothing"
    ALERT = "alert"
    REVERT = "revert"


class Outcome(StrEnum):
    """What xray-guard did about one account/region (or one of its two stores)."""

    COMPLIANT = "compliant"  # nothing to do, no alert
    ALERTED = "alerted"  # drift reported, not touched (alert mode, exempt actor, or unusable key)
    REVERTED = "reverted"  # put + ACTIVE + KeyId re-read equal to the approved key ARN
    REVERT_FAILED = "revert-failed"  # tried and could not verify; invocation fails
    ERROR = "error"  # could not even read the state

    @property
    def rank(self) -> int:
        """How bad: a region's outcome is the worst of its two stores' (error > revert-failed > alerted > ...)."""
        order = [Outcome.COMPLIANT, Outcome.REVERTED, Outcome.ALERTED, Outcome.REVERT_FAILED, Outcome.ERROR]
        return order.index(self)


@dataclass(frozen=True)
class Actor:
    """Who made the change, from the CloudTrail userIdentity, verbatim (renderings neutralize it, chalicelib.text).

    `arn` is the caller's ARN when CloudTrail gives one; otherwise `identitycenter:<identityStoreArn>/user/<userId>`
    for an IAM Identity Center user, `service:<invokedBy>` for an AWS service, or "unknown". `principal_arn` is what
    exemptions match besides `arn`: the IAM user/role ARN (the role behind an assumed-role session), else `arn`.
    """

    arn: str
    type: str  # CloudTrail's userIdentity.type as given (any value, "unknown" when absent)
    principal_arn: str
    session_name: str | None
    user_agent: str  # "" when CloudTrail gave none
    source_ip: str | None
    invoked_by: str | None = None
    from_console: bool = False  # CloudTrail's sessionCredentialFromConsole

    @property
    def channel(self) -> str:
        """Console, CLI, SDK or service, guessed from the user agent as CloudTrail records it."""
        ua = self.user_agent.lower()
        if self.invoked_by or ua.endswith(".amazonaws.com"):
            return "AWS service"
        if self.from_console or "console.amazonaws.com" in ua or ua.startswith("aws-internal"):
            return "Console"
        if "aws-cli" in ua:
            return "AWS CLI"
        if "terraform" in ua:
            return "Terraform"
        if "cloudformation" in ua:
            return "CloudFormation"
        if ua:
            return "SDK"
        return "unknown"


SEVERITY_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


def worst_severity(*severities: Severity | str | None) -> Severity | None:
    """The worst of the given alert severities (None ignored), None when none is given."""
    given = [s for s in severities if s is not None]
    return max((Severity(s) for s in given), key=SEVERITY_ORDER.index) if given else None


@dataclass(frozen=True)
class RotationStatus:
    """kms:GetKeyRotationStatus, reduced: whether automatic rotation is on and its period (None when not given)."""

    enabled: bool
    period_days: int | None = None


@dataclass(frozen=True)
class PostureProblem:
    """One way the key falls short of the guide's best practices: which rule, in plain words, how bad."""

    rule: str  # P1 | P2 | P3 | rotation
    words: str
    severity: Severity


class PostureStatus(StrEnum):
    OK = "ok"
    WEAK = "weak"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class KeyPosture:
    """The approved key's rotation and key policy judged against the rules (chalicelib.keyposture).

    Rendered exactly `ok`, `weak: <every problem>` or `unknown: <error>` (audit rows, digest, finding/v1 `key`).
    `fixed` says what xray-guard changed to get here (XRAY_GUARD_FIX_KEY_ROTATION), verified by a re-read.
    """

    status: PostureStatus
    problems: tuple[PostureProblem, ...] = ()
    error: str = ""
    fixed: str = ""

    def render(self) -> str:
        if self.status is PostureStatus.UNKNOWN:
            return f"unknown: {self.error}"
        if self.status is PostureStatus.WEAK:
            return "weak: " + "; ".join(p.words for p in self.problems)
        return "ok"

    @property
    def severity(self) -> Severity | None:
        """The worst problem's severity (None when ok or unknown)."""
        return worst_severity(*(p.severity for p in self.problems))

    @classmethod
    def of(cls, problems: tuple[PostureProblem, ...], fixed: str = "") -> KeyPosture:
        return cls(PostureStatus.WEAK if problems else PostureStatus.OK, problems, fixed=fixed)
