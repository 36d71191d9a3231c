"""The responder pipeline: re-read → classify → act → report. One pipeline, two triggers (event and sweep).

Everything that waits takes `sleep` and `clock` as parameters, so tests never sleep for real.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from chalicelib.coverage import destination_for
from chalicelib.domain import (
    SPANS_LOG_GROUP,
    Action,
    EncryptionState,
    EncryptionStatus,
    EncryptionType,
    KeyInfo,
    KeyPosture,
    MissingKey,
    Mode,
    Outcome,
    PostureStatus,
    SinkName,
    SpansDestination,
    SpansState,
    Target,
    Trigger,
    UnreadKey,
    Verdict,
)
from chalicelib.errors import AwsCallError, EventRejected, RemediationFailed, SinkFailed
from chalicelib.events import EncryptionChange, parse_change
from chalicelib.findings import Finding, KeyFinding, SpansFinding
from chalicelib.keyguard import KeyGuard
from chalicelib.kms import KeyDirectory, PostureBook
from chalicelib.log import emit
from chalicelib.notify import Message, storm_recap_message
from chalicelib.policy import (
    Assessment,
    classify,
    classify_spans,
    decide,
    is_exempt,
    is_own_echo,
    needs_current_key_details,
)
from chalicelib.sessions import ClientFactory, recording_calls
from chalicelib.settings import Settings
from chalicelib.sinks import Deliveries, MemoryDeliveries, Sink, dispatch
from chalicelib.sinks.eventbridge import EventBridgeSink
from chalicelib.sinks.securityhub import SecurityHubSink, now_utc
from chalicelib.sinks.sns import SnsSink
from chalicelib.spans import SpansStore, logs_key_statement
from chalicelib.storm import MemoryStorm, StormControl
from chalicelib.xray import XRayEncryption

T = TypeVar("T")

# How long a DescribeKey of the approved key may CONFIRM compliance. Anything else (a drift verdict, a write)
# resolves the key afresh: aliases get re-pointed when keys rotate, and a cached ARN would then be the retired key.
APPROVED_KEY_TTL_SECONDS = 300.0
# Poll X-Ray after a Put: short first waits, capped at 0.5 s so a verified revert lands at most ~0.5 s after ACTIVE.
POLL_FIRST_DELAY, POLL_GROWTH, POLL_MAX_DELAY = 0.2, 1.5, 0.5


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ApprovedKeys:
    """DescribeKey results for the approved key per (account, region, reference), cached with a TTL."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], tuple[KeyInfo | MissingKey, float]] = {}

    def get(
        self, target: Target, ref: str, keys: KeyDirectory, *, fresh: bool = False
    ) -> tuple[KeyInfo | MissingKey, bool]:
        """The key's description, and whether it was read just now (False: it came from the cache).

        `fresh=True` always calls DescribeKey (before calling drift, and before any write).
        """
        cache_key = (target.account, target.region, ref)
        with self._lock:
            cached = self._cache.get(cache_key)
        if not fresh and cached and self._clock() - cached[1] <= APPROVED_KEY_TTL_SECONDS:
            return cached[0], False
        info = keys.describe(ref)
        self.put(target, ref, info)
        return info, True

    def put(self, target: Target, ref: str, info: KeyInfo | MissingKey) -> None:
        """Remember a description just read elsewhere (a KMS event's fresh DescribeKey), so the next check within
        the TTL does not confirm compliance from an older one."""
        with self._lock:
            self._cache[(target.account, target.region, ref)] = (info, self._clock())


class Responder:
    """Checks one account/region and acts on it according to the settings."""

    def __init__(
        self,
        settings: Settings,
        clients: ClientFactory,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], str] = _utc_now,
        storm: StormControl | None = None,
        sinks: Sequence[Sink] | None = None,
        deliveries: Deliveries | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.sleep = sleep
        self._clock = clock
        self.now = now
        self._approved = ApprovedKeys(clock)
        self._storm: StormControl = storm or MemoryStorm()
        self._sns_sink: SnsSink | None = None
        self.sinks: list[Sink] = list(sinks) if sinks is not None else self._configured_sinks()
        self._deliveries: Deliveries = deliveries or MemoryDeliveries()

    def _configured_sinks(self) -> list[Sink]:
        """XRAY_GUARD_SINKS, in order. Each sink makes its clients on first use."""
        clients, settings = self.clients, self.settings
        made: dict[SinkName, Callable[[], Sink]] = {
            SinkName.SNS: self._sns,
            SinkName.SECURITY_HUB: lambda: SecurityHubSink(clients.securityhub, clients.partition_of, now_utc),
            # The central bus: XRAY_GUARD_CENTRAL_BUS_ARN, else the default bus where xray-guard runs (as coverage).
            SinkName.EVENTBRIDGE: lambda: EventBridgeSink(
                lambda: destination_for(settings, clients).bus_arn,
                lambda: clients.events(clients.home_account(), destination_for(settings, clients).bus_region),
            ),
        }
        return [made[name]() for name in settings.sinks if name is not SinkName.SNS or settings.topic_arn]

    def _sns(self) -> SnsSink:
        """The alert topic's sink, made once: findings, digests and recaps share it (and its storm control)."""
        if self._sns_sink is None:
            settings, clients = self.settings, self.clients
            region = settings.topic_region  # raises ConfigError when no topic is configured
            self._sns_sink = SnsSink(
                str(settings.topic_arn),
                partial(clients.home_sns, region),
                storm=self._storm,
                mode=settings.mode,
                failure_queue_url=settings.failure_queue_url,
                sqs=partial(clients.home_sqs, region),
            )
        return self._sns_sink

    # -- the event trigger -------------------------------------------------------------------------

    def on_event(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Handle one EventBridge event. Raises RemediationFailed when the drift is not fixed and verified."""
        try:
            change = parse_change(raw)
        except EventRejected as e:
            emit("rejected", reason=e.reason, event_id=_safe_id(raw), api_calls=[])
            return {"decision": "rejected", "reason": e.reason}
        base = {"event_id": change.event_id, "account": change.account, "region": change.region}
        scope = self.settings.account_list
        if scope is not None and change.account not in scope and not self._is_central_key(change):
            emit("skipped", why="out-of-scope", scope="XRAY_GUARD_ACCOUNTS", api_calls=[], **base)
            return {"decision": "skipped-out-of-scope", **base}
        if change.about_other_log_group:
            emit("skipped", why="other-log-group", log_group=change.log_group, api_calls=[], **base)
            return {"decision": "skipped-other-log-group", **base}
        if change.error_code:
            emit("skipped", why="failed-call", error_code=change.error_code, actor=change.actor.arn, **base)
            return {"decision": "skipped-failed-call", **base}
        if is_own_echo(change.actor, self.settings.member_role, self.clients.home_account()):
            emit("skipped", why="own-echo", actor=change.actor.arn, **base)
            return {"decision": "skipped-own-echo", **base}
        if change.about_key:
            return KeyGuard(self).on_event(change, base)
        finding = self.check(Target(change.account, change.region), trigger=Trigger.EVENT, change=change)
        self.alert(finding)
        if needs_retry(finding, self.settings.mode):
            raise RemediationFailed(
                f"{finding.account}/{finding.region}: {finding.outcome.value} ({finding.detail or finding.reason})"
            )
        return {"decision": finding.verdict.value, "outcome": finding.outcome.value, **base}

    def send_sweep_findings(self, findings: Sequence[Finding]) -> list[str]:
        """The sweep's findings to every destination but SNS (SNS gets the one digest). Returns notes for the digest:
        what a destination did not accept, never raising (the account was checked; a later sweep sends again)."""
        others = [sink for sink in self.sinks if sink.name is not SinkName.SNS]
        notes: list[str] = []
        for finding in findings:
            try:
                notes += dispatch(others, finding)
            except SinkFailed as e:
                notes.append(f"{finding.account} {finding.region}: {e}")
        return notes

    def _is_central_key(self, change: EncryptionChange) -> bool:
        """A KMS event about an approved key configured by ARN (a central key): every account using it is affected,
        so its owner's account need not be in an explicit XRAY_GUARD_ACCOUNTS list."""
        return change.about_key and change.key_ref in self.settings.approved_key_refs

    def alert(self, finding: Finding) -> None:
        """Send a finding to every destination that wants it (XRAY_GUARD_SINKS). Raises SinkFailed naming each that
        refused it; on Lambda's retry of the same event, destinations that already accepted it are skipped."""
        dispatch(self.sinks, finding, deliveries=self._deliveries, event_id=finding.event_id)

    def recap_storms(self) -> int:
        """Send one recap per closed hour whose drifts storm control suppressed (run by the scheduled sweep).

        A recap that cannot be sent stays unmarked and is tried again by the next sweep; it never stops the sweep.
        """
        sent = 0
        try:
            for recap in self._storm.closed_windows():
                self.deliver(storm_recap_message(recap))
                self._storm.mark_recapped(recap.window)
                sent += 1
        except (AwsCallError, RemediationFailed) as e:
            emit("storm-recap-failed", error=str(e))
        return sent

    def deliver(self, message: Message) -> None:
        """A message that always goes to the alert topic (sweep digest, storm recap); raises SinkFailed if refused."""
        self._sns().publish(message)

    # -- the shared pipeline -----------------------------------------------------------------------

    def check(
        self,
        target: Target,
        *,
        trigger: Trigger,
        change: EncryptionChange | None = None,
        approved: KeyInfo | MissingKey | None = None,
        posture: PostureBook | None = None,
    ) -> Finding:
        """Re-read, classify, act. Never raises for AWS errors: they become an `error` finding.

        `approved` is a description of the approved key just read (a KMS event's fresh DescribeKey): used instead of
        the cache. `posture` (sweep, audit) adds the approved key's posture, read once per key per book.
        """
        exempt = change is not None and is_exempt(change.actor, self.settings.exempt_principals)
        ref = self.settings.approved_key_ref(target.region)
        template = Finding(
            trigger=trigger,
            account=target.account,
            region=target.region,
            verdict=Verdict.ERROR,
            reason="",
            outcome=Outcome.ERROR,
            mode=self.settings.mode,
            before=None,
            after=None,
            approved_key_ref=ref,
            approved_key_arn=None,
            observed_at="",
            actor=change.actor if change else None,
            event_id=change.event_id if change else None,
            cloudtrail_event_id=change.cloudtrail_event_id if change else None,
            event_time=change.event_time if change else None,
            exempt_actor=exempt,
        )
        with recording_calls() as calls:
            try:
                finding = self._check(
                    target,
                    ref,
                    exempt,
                    template,
                    spans_event=change is not None and change.about_spans,
                    preset=approved,
                    posture=posture,
                )
            except AwsCallError as e:
                finding = dataclasses.replace(
                    template, reason=f"could not check: {e.code}", observed_at=self.now(), detail=str(e)
                )
        emit(
            "decision",
            event_id=finding.event_id,
            cloudtrail_event_id=finding.cloudtrail_event_id,
            trigger=trigger,
            account=target.account,
            region=target.region,
            actor=finding.actor.arn if finding.actor else None,
            before=None if finding.before is None else finding.before.to_json(),
            after=None if finding.after is None else finding.after.to_json(),
            decision=finding.verdict.value,
            outcome=finding.outcome.value,
            detail=finding.detail,
            key_posture=finding.key.posture.render() if finding.key and finding.key.posture else None,
            api_calls=list(calls),
        )
        return finding

    def _check(
        self,
        target: Target,
        ref: str,
        exempt: bool,
        template: Finding,
        *,
        spans_event: bool,
        preset: KeyInfo | MissingKey | None = None,
        posture: PostureBook | None = None,
    ) -> Finding:
        keys = KeyDirectory(self.clients.kms(target.account, target.region))
        finding, approved, fresh = self._check_xray(target, ref, exempt, template, keys, preset=preset)
        from_event = template.trigger is Trigger.EVENT
        try:
            spans = self._check_spans(
                target,
                ref,
                keys,
                approved=approved,
                fresh=fresh,
                exempt=exempt,
                thorough=spans_event or not from_event,
                wait=from_event,
            )
        except AwsCallError as e:
            spans = SpansFinding(Verdict.ERROR, f"could not check spans: {e.code}", Outcome.ERROR, None, None, str(e))
        combined = _combine(finding, spans)
        if posture is None:
            return combined
        return dataclasses.replace(combined, key=key_part(approved, posture, target.account))

    def _check_xray(
        self,
        target: Target,
        ref: str,
        exempt: bool,
        template: Finding,
        keys: KeyDirectory,
        *,
        preset: KeyInfo | MissingKey | None = None,
    ) -> tuple[Finding, KeyInfo | MissingKey, bool]:
        xray = XRayEncryption(self.clients.xray(target.account, target.region))
        before = xray.get()
        if preset is not None:
            approved, fresh = preset, True
            self._approved.put(target, ref, preset)
        else:
            approved, fresh = self._approved.get(target, ref, keys)
        state = before
        while True:
            assessment = self._classify(target, state, approved, keys)
            if assessment.verdict is not Verdict.COMPLIANT and not fresh:
                # A cached description may only confirm compliance: resolve the key afresh before calling drift.
                approved, fresh = self._approved.get(target, ref, keys, fresh=True)
                assessment = self._classify(target, state, approved, keys)
            if assessment.verdict is not Verdict.COMPLIANT or state.status is EncryptionStatus.ACTIVE:
                break
            # Already moving to an accepted key: wait (bounded) for it to land, then judge what landed.
            state = self._await_active(xray)
            if state.status is EncryptionStatus.UPDATING:
                stuck = dataclasses.replace(
                    template,
                    reason="X-Ray stayed UPDATING",
                    before=before,
                    after=state,
                    approved_key_arn=_arn(approved),
                    observed_at=self.now(),
                    detail=f"still UPDATING after {self.settings.activation_timeout_seconds:g}s",
                )
                return stuck, approved, fresh

        action = decide(assessment.verdict, mode=self.settings.mode, actor_exempt=exempt)
        result = dataclasses.replace(
            template,
            verdict=assessment.verdict,
            reason=assessment.reason,
            unusable=assessment.unusable,
            before=before,
            after=state,
            approved_key_arn=_arn(approved),
        )
        if action is Action.REVERT:
            # decide() reverts only drift, and drift is only ever called on a freshly resolved, usable key.
            assert fresh
            assert isinstance(approved, KeyInfo)
            outcome, after, detail = self._revert(xray, approved)
            reverted = dataclasses.replace(result, outcome=outcome, after=after, detail=detail, observed_at=self.now())
            return reverted, approved, fresh
        outcome = Outcome.COMPLIANT if action is Action.NOTHING else Outcome.ALERTED
        return dataclasses.replace(result, outcome=outcome, observed_at=self.now()), approved, fresh

    def _check_spans(
        self,
        target: Target,
        ref: str,
        keys: KeyDirectory,
        *,
        approved: KeyInfo | MissingKey,
        fresh: bool,
        exempt: bool,
        thorough: bool,
        wait: bool,
    ) -> SpansFinding:
        """The second store. `thorough` (sweep, audit, spans events) also reads a dormant `aws/spans`; `wait`
        (events) waits, bounded, for a just-enabled Transaction Search to create `aws/spans`."""
        account, region = target.account, target.region
        store = SpansStore(self.clients.xray(account, region), partial(self.clients.logs, account, region))
        before = store.read(log_group_when_off=thorough)
        state = before
        if wait and state.destination is SpansDestination.CLOUDWATCH_LOGS and not state.group_exists:
            state = self._await_spans_group(store, state)
        assessment = classify_spans(state, approved)
        if (assessment.verdict is not Verdict.COMPLIANT or assessment.fix_dormant) and not fresh:
            approved, fresh = self._approved.get(target, ref, keys, fresh=True)
            assessment = classify_spans(state, approved)
        action = decide(assessment.verdict, mode=self.settings.mode, actor_exempt=exempt)
        if assessment.fix_dormant and self.settings.mode is Mode.REVERT and not exempt:
            action = Action.REVERT
        if action is not Action.REVERT:
            outcome = Outcome.COMPLIANT if action is Action.NOTHING else Outcome.ALERTED
            return SpansFinding(
                assessment.verdict, assessment.reason, outcome, before, state, unusable=assessment.unusable
            )
        assert isinstance(approved, KeyInfo)
        try:
            store.associate(approved.arn)
        except AwsCallError as e:
            if e.code in {"InvalidParameterException", "AccessDeniedException"}:
                # The approved key is usable for X-Ray (checked above) but CloudWatch Logs may not use it.
                reason = f"approved key cannot protect {SPANS_LOG_GROUP}: CloudWatch Logs was refused ({e.code})"
                return SpansFinding(Verdict.KEY_UNUSABLE, reason, Outcome.ALERTED, before, state, _logs_grant_hint(e))
            return SpansFinding(assessment.verdict, assessment.reason, Outcome.REVERT_FAILED, before, state, str(e))
        exists, key = store.log_group()  # the verification read
        after = dataclasses.replace(state, group_read=True, group_exists=exists, key_arn=key)
        if key != approved.arn:
            detail = f"re-read shows {after.describe()}, not the approved key"
            return SpansFinding(assessment.verdict, assessment.reason, Outcome.REVERT_FAILED, before, after, detail)
        detail = (
            f"approved key associated with {SPANS_LOG_GROUP} and verified by re-read; it protects spans ingested from"
            " now on (CloudWatch Logs: up to 5 minutes to take effect); earlier spans stay as they were until they"
            " expire"
        )
        return SpansFinding(assessment.verdict, assessment.reason, Outcome.REVERTED, before, after, detail)

    def _await_spans_group(self, store: SpansStore, state: SpansState) -> SpansState:
        """Transaction Search was just switched on: wait (bounded) for X-Ray to create `aws/spans`, then judge it."""
        exists, key = self._poll(store.log_group, lambda group: group[0])
        if exists:
            return dataclasses.replace(state, group_exists=True, key_arn=key)
        emit("spans-group-absent", note=f"{SPANS_LOG_GROUP} still absent; the sweep will judge it")
        return state

    def _classify(
        self, target: Target, state: EncryptionState, approved: KeyInfo | MissingKey, keys: KeyDirectory
    ) -> Assessment:
        current: KeyInfo | MissingKey | UnreadKey | None = None
        if state.key_arn is not None and needs_current_key_details(state, _arn(approved), target.account):
            try:
                current = keys.describe(state.key_arn)
            except AwsCallError as e:
                # Informational only: a denied DescribeKey of the key in use never blocks the revert.
                current = UnreadKey(state.key_arn, e.code)
        return classify(state, approved, current, require_cmk=self.settings.require_cmk, account=target.account)

    def _revert(self, xray: XRayEncryption, key: KeyInfo) -> tuple[Outcome, EncryptionState | None, str]:
        """Put the freshly resolved approved key ARN, wait for ACTIVE, and verify by re-reading."""
        try:
            xray.put_kms(key.arn)
            after = self._await_active(xray)
        except AwsCallError as e:
            return Outcome.REVERT_FAILED, None, str(e)
        if after.status is not EncryptionStatus.ACTIVE:
            return (
                Outcome.REVERT_FAILED,
                after,
                f"still UPDATING after {self.settings.activation_timeout_seconds:g}s",
            )
        if after.type is not EncryptionType.KMS or after.key_arn != key.arn:
            return Outcome.REVERT_FAILED, after, f"re-read shows {after.describe()}, not the approved key"
        return Outcome.REVERTED, after, "verified by re-read"

    def _await_active(self, xray: XRayEncryption) -> EncryptionState:
        """Poll GetEncryptionConfig with backoff until ACTIVE or the activation timeout."""
        return self._poll(xray.get, lambda state: state.status is EncryptionStatus.ACTIVE)

    def _poll(self, read: Callable[[], T], done: Callable[[T], bool]) -> T:
        """Read with backoff (0.2 s growing to 0.5 s) until `done` or XRAY_GUARD_ACTIVATION_TIMEOUT; the last read."""
        deadline = self._clock() + self.settings.activation_timeout_seconds
        delay = POLL_FIRST_DELAY
        while True:
            self.sleep(max(0.0, min(delay, deadline - self._clock())))
            value = read()
            if done(value) or self._clock() >= deadline:
                return value
            delay = min(delay * POLL_GROWTH, POLL_MAX_DELAY)


def _logs_grant_hint(error: AwsCallError) -> str:
    statement = json.dumps(logs_key_statement(), separators=(",", ":"))
    return f"{error}. Add this statement to the approved key's policy, then re-check: {statement}"


def _combine(xray: Finding, spans: SpansFinding) -> Finding:
    """One region, two stores: the X-Ray config's verdict when it is not compliant, else the spans store's; the
    worse of the two outcomes. X-Ray's own verdict, outcome and reason are kept for per-store destinations."""
    outcome = max(xray.outcome, spans.outcome, key=lambda o: o.rank)
    both = dataclasses.replace(
        xray,
        outcome=outcome,
        spans=spans,
        xray_verdict=xray.verdict,
        xray_outcome=xray.outcome,
        xray_reason=xray.reason,
    )
    if xray.verdict is not Verdict.COMPLIANT or spans.verdict is Verdict.COMPLIANT:
        return both
    return dataclasses.replace(both, verdict=spans.verdict, reason=spans.reason, detail=spans.detail or xray.detail)


def _arn(key: KeyInfo | MissingKey) -> str | None:
    return key.arn if isinstance(key, KeyInfo) else None


def key_part(approved: KeyInfo | MissingKey, posture: PostureBook, checked_account: str) -> KeyFinding:
    """The approved key's state and posture for a sweep or audit finding (posture None: left to scheduled_sweep)."""
    if isinstance(approved, MissingKey):
        return KeyFinding(None, None, posture=KeyPosture(PostureStatus.UNKNOWN, error=approved.unusable_reason))
    return KeyFinding(
        approved.arn, approved.state, approved.deletion_date, posture=posture.get(approved, checked_account)
    )


def needs_retry(finding: Finding, mode: Mode) -> bool:
    """Whether the invocation must fail so Lambda retries and its on-failure destination keeps the event."""
    if finding.outcome in {Outcome.REVERT_FAILED, Outcome.ERROR}:
        return True
    unusable = finding.verdict is Verdict.KEY_UNUSABLE
    unusable |= finding.spans is not None and finding.spans.verdict is Verdict.KEY_UNUSABLE
    return mode is Mode.REVERT and unusable


def _safe_id(raw: object) -> str | None:
    value = raw.get("id") if isinstance(raw, Mapping) else None
    return value[:128] if isinstance(value, str) else None
