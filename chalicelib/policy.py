"""The decision, as pure functions: live state + approved key + actor + mode → verdict and action.

No AWS SDK import here (a test checks it): everything is decided on values the adapters produced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from chalicelib import USER_AGENT_MARKER
from chalicelib.domain import (
    SPANS_LOG_GROUP,
    Action,
    Actor,
    Arn,
    EncryptionState,
    EncryptionType,
    KeyInfo,
    MissingKey,
    Mode,
    Outcome,
    Severity,
    SpansDestination,
    SpansState,
    UnreadKey,
    Verdict,
    key_account,
)

# Session names xray-guard uses: "xray-guard" when assuming the member role, and Lambda's own session name
# (the function name, "xray-guard-<stage>-<handler>") when it acts in its own account.
OWN_SESSION_PREFIX = "xray-guard"


UNUSABLE_LEAD = "approved key cannot be used: "


@dataclass(frozen=True)
class UnusableKey:
    """The approved key cannot be used (missing, disabled, pending deletion, not a customer-managed symmetric
    encryption key ...), as one trace store reports it: the problem, and that store's state meanwhile (X-Ray's
    EncryptionConfig or the spans store)."""

    problem: str  # the key's `unusable_reason`: the same words whichever store reports it
    state: EncryptionState | SpansState  # the state classified

    @property
    def where(self) -> str:
        """Where the store stands, in the store's own words."""
        if isinstance(self.state, SpansState):
            return f"spans: {self.state.describe()}"
        return f"X-Ray currently: {self.state.describe()}"

    @property
    def reason(self) -> str:
        return f"{UNUSABLE_LEAD}{self.problem} ({self.where})"


def unusable_in_both(xray: UnusableKey, spans: UnusableKey) -> str | None:
    """One reason for both stores when they report the same problem: the problem once, then where each store stands.
    None when the problems differ (each store's reason is then a fact of its own)."""
    if xray.problem != spans.problem:
        return None
    return f"{UNUSABLE_LEAD}{xray.problem} ({xray.where}; {spans.where})"


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reason: str
    fix_dormant: bool = False  # compliant, but revert mode puts the approved key on a dormant aws/spans
    unusable: UnusableKey | None = None  # with Verdict.KEY_UNUSABLE: what `reason` says, as values to compose from

    @classmethod
    def key_unusable(cls, problem: str, state: EncryptionState | SpansState) -> Assessment:
        unusable = UnusableKey(problem, state)
        return cls(Verdict.KEY_UNUSABLE, unusable.reason, unusable=unusable)


def needs_current_key_details(state: EncryptionState, approved_arn: str | None, account: str) -> bool:
    """Whether classifying needs DescribeKey of the key X-Ray currently uses.

    Only for a key that is not the approved one and lives in the checked account: a key in another account is
    `drift-other-key` whatever it is (AWS-managed keys always live in the account itself, and the member role may
    only describe its own account's keys).
    """
    if state.type is not EncryptionType.KMS or state.key_arn is None or state.key_arn == approved_arn:
        return False
    return key_account(state.key_arn) in {account, None}


def classify(
    state: EncryptionState,
    approved: KeyInfo | MissingKey,
    current_key: KeyInfo | MissingKey | UnreadKey | None,
    *,
    require_cmk: bool,
    account: str | None = None,
) -> Assessment:
    """Classify one region's live configuration against the approved key.

    `current_key` describes the key X-Ray uses when it is not the approved one (None when it was not read).
    """
    reason = approved.unusable_reason
    if reason is not None:
        return Assessment.key_unusable(reason, state)
    assert isinstance(approved, KeyInfo)
    if state.type is EncryptionType.NONE:
        return Assessment(Verdict.DRIFT_NONE, "X-Ray uses the AWS-owned key (Type NONE)")
    if state.key_arn == approved.arn:
        return Assessment(Verdict.COMPLIANT, f"X-Ray uses the approved key ({state.status})")
    if isinstance(current_key, KeyInfo) and current_key.key_manager == "AWS":
        if require_cmk:
            return Assessment(Verdict.DRIFT_AWS_MANAGED, "X-Ray uses the AWS-managed key aws/xray")
        return Assessment(Verdict.COMPLIANT, "X-Ray uses the AWS-managed key (allowed: REQUIRE_CMK=false)")
    owner = key_account(state.key_arn or "")
    if account is not None and owner is not None and owner != account:
        reason = f"X-Ray uses a key of another account ({owner}), not the approved one: {state.key_arn}"
        return Assessment(Verdict.DRIFT_OTHER_KEY, reason)
    unread = f" (could not describe it: {current_key.error})" if isinstance(current_key, UnreadKey) else ""
    reason = f"X-Ray uses a key that is not the approved one: {state.key_arn}{unread}"
    return Assessment(Verdict.DRIFT_OTHER_KEY, reason)


def classify_spans(spans: SpansState, approved: KeyInfo | MissingKey) -> Assessment:
    """Classify X-Ray's second trace store, the `aws/spans` log group, against the same approved key."""
    if spans.destination is SpansDestination.UNAVAILABLE:
        return Assessment(Verdict.COMPLIANT, "Transaction Search is not offered in this region: spans stay in X-Ray")
    reason = approved.unusable_reason
    if reason is not None:
        return Assessment.key_unusable(reason, spans)
    assert isinstance(approved, KeyInfo)
    in_use = spans.destination is SpansDestination.CLOUDWATCH_LOGS
    if not spans.group_read or not spans.group_exists:
        if in_use:
            return Assessment(Verdict.COMPLIANT, f"Transaction Search on, {SPANS_LOG_GROUP} not created yet")
        return Assessment(Verdict.COMPLIANT, "Transaction Search off: spans stay in X-Ray")
    if spans.key_arn == approved.arn:
        store = "spans" if in_use else f"dormant {SPANS_LOG_GROUP} (Transaction Search off)"
        return Assessment(Verdict.COMPLIANT, f"{store} on the approved key")
    if not in_use:
        on = f"on {spans.key_arn}" if spans.key_arn else "without a KMS key"
        return Assessment(
            Verdict.COMPLIANT,
            f"Transaction Search off; dormant {SPANS_LOG_GROUP} left {on} (not the approved key)",
            fix_dormant=True,
        )
    if spans.key_arn is None:
        return Assessment(
            Verdict.DRIFT_SPANS_UNENCRYPTED, f"spans in {SPANS_LOG_GROUP} have no KMS key (CloudWatch Logs default)"
        )
    return Assessment(Verdict.DRIFT_SPANS_OTHER_KEY, f"spans in {SPANS_LOG_GROUP} use another key: {spans.key_arn}")


def decide(verdict: Verdict, *, mode: Mode, actor_exempt: bool) -> Action:
    """What to do about a verdict. Only drift is ever reverted; an exempt actor is only reported."""
    if verdict is Verdict.COMPLIANT:
        return Action.NOTHING
    if verdict.is_drift and mode is Mode.REVERT and not actor_exempt:
        return Action.REVERT
    return Action.ALERT


def is_own_echo(actor: Actor, member_role: str, home_account: str) -> bool:
    """True for the CloudTrail record of xray-guard's own write (its revert coming back as an event).

    Both must hold: the user-agent marker (cheap to forge alone) and a role session of xray-guard's own
    (the member role it assumes, or its Lambda role session in its own account).
    """
    if USER_AGENT_MARKER.split("/")[0] + "/" not in actor.user_agent or actor.session_name is None:
        return False
    role_name = actor.principal_arn.rsplit("/", 1)[-1]
    arn = Arn.parse(actor.principal_arn)
    role_account = arn.account if arn else None
    # Anyone may name a role xray-guard-*: only in xray-guard's own account is such a role its Lambda's.
    own_role = role_name == member_role or (role_account == home_account and role_name.startswith(OWN_SESSION_PREFIX))
    return own_role and actor.session_name.startswith(OWN_SESSION_PREFIX)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def is_exempt(actor: Actor, patterns: Iterable[str]) -> bool:
    """Whether the actor (its IAM user/role ARN, or the role behind its session) matches an exempt pattern."""
    candidates = {actor.arn, actor.principal_arn}
    return any(_glob(p).match(c) for p in patterns for c in candidates)


SEVERITY_BY_VERDICT = {
    Verdict.KEY_UNUSABLE: Severity.CRITICAL,
    Verdict.KEY_ALIAS_MISSING: Severity.HIGH,
    Verdict.DRIFT_NONE: Severity.HIGH,
    Verdict.DRIFT_OTHER_KEY: Severity.HIGH,
    Verdict.DRIFT_AWS_MANAGED: Severity.MEDIUM,
    Verdict.DRIFT_SPANS_UNENCRYPTED: Severity.HIGH,
    Verdict.DRIFT_SPANS_OTHER_KEY: Severity.HIGH,
    Verdict.ERROR: Severity.HIGH,
    Verdict.COMPLIANT: Severity.INFO,
}


def severity(verdict: Verdict, outcome: Outcome) -> Severity:
    """Alert severity: a failed revert or unusable key is critical; a verified revert is low (already fixed)."""
    if outcome is Outcome.REVERT_FAILED:
        return Severity.CRITICAL
    if outcome is Outcome.REVERTED:
        return Severity.LOW
    return SEVERITY_BY_VERDICT[verdict]
