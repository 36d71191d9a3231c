"""A finding: what xray-guard saw in one account/region and what it did. The unit of alerts, logs and audit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import (
    Actor,
    EncryptionState,
    KeyPosture,
    Mode,
    Outcome,
    Severity,
    SpansState,
    Trigger,
    Verdict,
    worst_severity,
)
from chalicelib.policy import UnusableKey, severity, unusable_in_both

SCHEMA = "xray-guard.finding/v1"


@dataclass(frozen=True)
class SpansFinding:
    """The second store's part of a finding: Transaction Search's `aws/spans` log group."""

    verdict: Verdict
    reason: str
    outcome: Outcome
    before: SpansState | None
    after: SpansState | None
    detail: str = ""
    unusable: UnusableKey | None = None  # the approved key cannot be used: the problem and where spans stand

    def to_json(self) -> dict[str, Any]:
        state = self.after or self.before
        return {
            "destination": state.destination.value if state else None,
            "status": state.status if state else None,
            "key_id": state.key_arn if state else None,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "before": None if self.before is None else self.before.to_json(),
            "after": None if self.after is None else self.after.to_json(),
            "outcome": self.outcome.value,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class KeyFinding:
    """The approved key's part of a finding (or, for a KMS event, the key the event is about): its state, its
    posture when read, and for a KMS event the key's own alert (severity, headline, plain words, how to undo)."""

    arn: str | None
    state: str | None
    deletion_date: str | None = None
    event_name: str | None = None
    posture: KeyPosture | None = None  # None: not read by this check (a sweep leaves another account's key to
    # scheduled_sweep; an event reads only what it changed)
    severity: Severity | None = None  # the key's own alert (KMS events); None: informational only
    headline: str = ""
    words: tuple[str, ...] = ()  # what it means, in plain words
    undo: tuple[str, ...] = ()  # the key owner's commands (xray-guard never runs them)

    def to_json(self) -> dict[str, Any]:
        """finding/v1's additive `key` object."""
        return {
            "arn": self.arn,
            "state": self.state,
            "deletion_date": self.deletion_date,
            "event_name": self.event_name,
            "posture": None if self.posture is None else self.posture.render(),
            "posture_status": None if self.posture is None else self.posture.status.value,
            "problems": [] if self.posture is None else [p.words for p in self.posture.problems],
        }


@dataclass(frozen=True)
class Finding:
    trigger: Trigger
    account: str
    region: str
    verdict: Verdict
    reason: str
    outcome: Outcome
    mode: Mode
    before: EncryptionState | None
    after: EncryptionState | None
    approved_key_ref: str
    approved_key_arn: str | None
    observed_at: str
    detail: str = ""
    actor: Actor | None = None
    event_id: str | None = None
    cloudtrail_event_id: str | None = None
    event_time: str | None = None
    exempt_actor: bool = False
    # The second store (None: not checked, e.g. the X-Ray read failed). `verdict`, `reason` and `outcome` above are
    # the region's overall ones: the X-Ray config's verdict when it is not compliant, else the spans store's; the
    # worse of the two outcomes. `before`/`after` are X-Ray's EncryptionConfig.
    spans: SpansFinding | None = None
    # X-Ray's own verdict, outcome and reason once the spans store was combined in (None: same as the overall ones).
    xray_verdict: Verdict | None = None
    xray_outcome: Outcome | None = None
    xray_reason: str | None = None
    # Whether events from this account and region reach xray-guard (chalicelib/coverage_policy.py): "events",
    # "sweep-only: ...", "unknown: ..."; None when not judged (the event path judges no coverage).
    coverage: str | None = None
    # X-Ray's EncryptionConfig reports the approved key cannot be used: the problem and where X-Ray stands (the
    # spans store's own report is spans.unusable).
    unusable: UnusableKey | None = None

    @property
    def xray_store_verdict(self) -> Verdict:
        return self.xray_verdict or self.verdict

    @property
    def xray_store_outcome(self) -> Outcome:
        return self.xray_outcome or self.outcome

    @property
    def xray_store_reason(self) -> str:
        return self.xray_reason or self.reason

    key: KeyFinding | None = None  # the approved key's state and posture; for a KMS event, that key's alert

    def facts(self) -> tuple[str, ...]:
        """What was found and done in the region, each fact once: X-Ray's (its detail, else its reason), then the
        spans store's reason when it says something else. An unusable approved key that both stores report with the
        same problem is one fact naming the problem once and where each store stands."""
        first = self.detail or self.reason
        spans = self.spans.reason if self.spans else ""
        spans_unusable = self.spans.unusable if self.spans else None
        if first == self.reason and self.unusable is not None and spans_unusable is not None:
            merged = unusable_in_both(self.unusable, spans_unusable)
            if merged is not None:
                return (merged,)
        return tuple(dict.fromkeys(part for part in (first, spans) if part))

    @property
    def severity(self) -> Severity:
        """The region's severity, or the key's own alert when that is worse (a KMS event)."""
        region = severity(self.verdict, self.outcome)
        return Severity(worst_severity(region, self.key.severity if self.key else None) or region)

    @property
    def is_news(self) -> bool:
        """Worth an alert: the region is not compliant, or the key's own alert leads (a KMS event, e.g. the all-clear
        after EnableKey). A compliant region is otherwise news only to Security Hub (to close its finding)."""
        return self.outcome is not Outcome.COMPLIANT or self.key_alert

    @property
    def key_alert(self) -> bool:
        """Whether the key's own alert leads (a KMS event whose key severity is at least the region's)."""
        return self.key is not None and self.key.severity is not None and self.severity == self.key.severity

    @property
    def verified(self) -> bool:
        return self.outcome is Outcome.REVERTED

    @property
    def decisions(self) -> str:
        """What the check left open, per store, and the key's own alert, e.g. "drift-none:revert-failed/ok/-": the
        same for two checks that leave the same problems (a Lambda retry that failed the same way, or one that finds
        compliant what the first attempt reverted), different when a retry changed what is open (it reverted this
        time). A store that is compliant or reverted is "ok". The destinations' delivery ledger is keyed on it."""

        def store(verdict: Verdict, outcome: Outcome) -> str:
            return "ok" if outcome in (Outcome.COMPLIANT, Outcome.REVERTED) else f"{verdict.value}:{outcome.value}"

        spans = store(self.spans.verdict, self.spans.outcome) if self.spans else "-"
        key = self.key.severity.value if self.key and self.key.severity else "-"
        return "/".join((store(self.xray_store_verdict, self.xray_store_outcome), spans, key))

    def to_json(self) -> dict[str, Any]:
        """Versioned machine form (SCHEMA): the SNS message's `sqs`/`lambda` rendering and the EventBridge
        destination's event detail. Security Hub gets its own document (chalicelib/sinks/securityhub.py `asff`)."""

        def state(s: EncryptionState | None) -> dict[str, Any] | None:
            return None if s is None else s.to_json()

        return {
            "schema": SCHEMA,
            "trigger": self.trigger.value,
            "account": self.account,
            "region": self.region,
            "verdict": self.verdict.value,
            "severity": self.severity.value,
            "reason": self.reason,
            "outcome": self.outcome.value,
            "verified": self.verified,
            "mode": self.mode.value,
            "before": state(self.before),
            "after": state(self.after),
            "approved_key": {"ref": self.approved_key_ref, "arn": self.approved_key_arn},
            "detail": self.detail,
            "actor": None if self.actor is None else dataclasses.asdict(self.actor),
            "exempt_actor": self.exempt_actor,
            "event_id": self.event_id,
            "cloudtrail_event_id": self.cloudtrail_event_id,
            "event_time": self.event_time,
            "observed_at": self.observed_at,
            # finding/v1 keeps these two keys for its consumers; only the SNS alert fills them (storm control belongs
            # to that destination: chalicelib/sinks/sns.py), so every other rendering says "no storm".
            "storm_count": 0,
            "storm_held": [],
            "spans": None if self.spans is None else self.spans.to_json(),
            "coverage": self.coverage,
            "key": None if self.key is None else self.key.to_json(),
        }
