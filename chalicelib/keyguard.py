"""The KMS event path: a key's lifecycle, policy, rotation or alias changed (issue 11, section 1).

Which key: the record's key ARN, else responseElements.keyId, else requestParameters.keyId (chalicelib.events); alias
events match the approved alias by name. The approved key is the one that matters; another key matters only when one
of the region's trace stores uses it (the old key after an alias rotation), which costs one read of the stores, and
otherwise the event is skipped with no further call. A key that matters is described afresh (never from the
approved-key cache), re-read once after 2 s when KMS still says it is usable right after DisableKey or
ScheduleKeyDeletion (KMS is eventually consistent), and the region is checked with that description. The key's own
alert (severity, plain words, how to undo) rides on the region's finding.

xray-guard never re-enables a key, cancels a deletion or edits a key policy: disabling a key is its owner's
revocation lever. These checks alert; they never fail the invocation for what they find (an alert SNS refuses still
does, as every alert does).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING, Any

from chalicelib.domain import (
    Arn,
    EncryptionState,
    EncryptionType,
    KeyInfo,
    KeyPosture,
    MissingKey,
    Outcome,
    PostureStatus,
    Severity,
    SpansState,
    Target,
    Trigger,
    Verdict,
)
from chalicelib.errors import AwsCallError
from chalicelib.events import EncryptionChange
from chalicelib.findings import Finding, KeyFinding
from chalicelib.kms import KeyDirectory, KeyPostureReader, PostureBook
from chalicelib.log import emit
from chalicelib.policy import is_exempt
from chalicelib.sessions import recording_calls
from chalicelib.spans import SpansStore
from chalicelib.xray import XRayEncryption

if TYPE_CHECKING:
    from chalicelib.service import Responder

# KMS is eventually consistent ("AWS KMS eventual consistency", KMS developer guide: a change "might not be visible
# immediately" and is usually visible "within seconds"): one re-read after this long before trusting "Enabled".
EVENTUAL_CONSISTENCY_WAIT_SECONDS = 2.0
DISABLING = frozenset({"DisableKey", "ScheduleKeyDeletion"})
REVOCATION_LEVER = (
    "xray-guard never re-enables a key, cancels a deletion or edits a key policy: disabling a key is its owner's "
    "revocation lever."
)


def known_accounts(responder: Responder) -> frozenset[str]:
    """Accounts a key policy may name without an organization condition: xray-guard's own and the explicit list."""
    return frozenset({responder.clients.home_account(), *(responder.settings.account_list or ())})


def posture_reader(responder: Responder) -> KeyPostureReader:
    """The responder's key posture reader: who counts as inside (its accounts, its organization id) said once."""
    return KeyPostureReader(
        responder.clients.kms, accounts=known_accounts(responder), organization_id=responder.settings.organization_id
    )


def posture_book(responder: Responder, *, fix_rotation: bool, foreign_keys: bool) -> PostureBook:
    """A book for one sweep_account invocation (foreign_keys False: keys of other accounts, and the approved keys
    configured by ARN, are scheduled_sweep's, read once per sweep), one audit run or one scheduled sweep."""
    settings = responder.settings
    central = {ref for ref in settings.central_key_refs if ":key/" in ref}  # an alias ARN's key is known only by a read
    return PostureBook(
        posture_reader(responder),
        fix_rotation=fix_rotation,
        foreign_keys=foreign_keys,
        left_to_others=frozenset() if foreign_keys else frozenset(central),
    )


def key_arn(ref: str | None, target: Target, partition: str) -> str | None:
    """A key id or key ARN as the key ARN (a bare id names a key of the event's account and region)."""
    if not ref:
        return None
    if ref.startswith("arn:"):
        return ref if ":key/" in ref else None
    if "/" in ref:
        return None  # an alias: these operations take none
    return f"arn:{partition}:kms:{target.region}:{target.account}:key/{ref}"


def approved_alias(ref: str, target: Target) -> str | None:
    """The approved alias's name (alias/NAME) when the approved key is configured by an alias of this place."""
    if ref.startswith("alias/"):
        return ref
    arn = Arn.parse(ref)
    if arn and arn.resource.startswith("alias/") and (arn.account, arn.region) == (target.account, target.region):
        return arn.resource
    return None


class KeyGuard:
    """Handles one KMS event through the responder it is given (its settings, clients, clock and alert)."""

    def __init__(self, responder: Responder) -> None:
        self._r = responder
        self._reader = posture_reader(responder)

    def on_event(self, change: EncryptionChange, base: dict[str, Any]) -> dict[str, Any]:
        target = Target(change.account, change.region)
        with recording_calls() as calls:
            try:
                finding = self._handle(target, change)
            except AwsCallError as e:
                finding = self._error(change, e)
        if finding is None:
            emit(
                "skipped",
                why="other-key",
                event_name=change.event_name,
                key=change.key_ref or change.alias_name,
                api_calls=list(calls),
                **base,
            )
            return {"decision": "skipped-other-key", **base}
        emit(
            "key-event",
            event_name=change.event_name,
            key=finding.key.arn if finding.key else None,
            key_state=finding.key.state if finding.key else None,
            severity=finding.severity,
            decision=finding.verdict.value,
            outcome=finding.outcome.value,
            api_calls=list(calls),  # this event's own calls; the region check logs its own line
            **base,
        )
        self._r.alert(finding)  # each destination takes what is news to it (Finding.is_news; Security Hub: every store)
        return {
            "decision": finding.verdict.value,
            "outcome": finding.outcome.value,
            "severity": finding.severity,
            **base,
        }

    # -- which key --------------------------------------------------------------------------------------------

    def _handle(self, target: Target, change: EncryptionChange) -> Finding | None:
        ref = self._r.settings.approved_key_ref(target.region)
        if change.about_alias:
            alias = approved_alias(ref, target)
            if alias is None or change.alias_name != alias:
                return None  # another alias: no call at all
            return self._alias_event(target, change, ref, alias)
        keys = KeyDirectory(self._r.clients.kms(target.account, target.region))
        event_key = key_arn(change.key_ref, target, self._partition(target))
        if event_key is None:
            return None
        approved_ref_arn = key_arn(ref, target, self._partition(target))
        approved = None if approved_ref_arn else keys.describe(ref)  # an alias: resolved afresh, never cached
        approved_arn = approved_ref_arn or (approved.arn if isinstance(approved, KeyInfo) else None)
        if event_key == approved_arn:
            key = approved if isinstance(approved, KeyInfo) else self._describe(event_key)
            key = self._settled(change, key, event_key)
            finding = self._r.check(target, trigger=Trigger.EVENT, change=change, approved=key)
            return self._with_key_alert(finding, change, key, shared=approved_ref_arn is not None)
        if not self._a_store_uses(target, event_key):
            return None
        key = self._settled(change, self._describe(event_key), event_key)
        approved = approved if approved is not None else keys.describe(ref)
        finding = self._r.check(target, trigger=Trigger.EVENT, change=change, approved=approved)
        return self._with_key_alert(finding, change, key, shared=False)

    def _partition(self, target: Target) -> str:
        partition: str = self._r.clients.partition_of(target.region)
        return partition

    def _describe(self, arn: str) -> KeyInfo | MissingKey:
        where = Arn.of(arn)
        return KeyDirectory(self._r.clients.kms(where.account, where.region)).describe(arn)

    def _a_store_uses(self, target: Target, arn: str) -> bool:
        """One read of the region's stores: does X-Ray or aws/spans use this key? (The check that follows re-reads
        them on purpose: it judges the state after the key settled, not before.)"""
        xray = XRayEncryption(self._r.clients.xray(target.account, target.region)).get()
        if xray.type is EncryptionType.KMS and xray.key_arn == arn:
            return True
        clients, account, region = self._r.clients, target.account, target.region
        spans = SpansStore(clients.xray(account, region), partial(clients.logs, account, region)).read(
            log_group_when_off=False
        )
        return spans.group_exists and spans.key_arn == arn

    def _settled(self, change: EncryptionChange, key: KeyInfo | MissingKey, arn: str) -> KeyInfo | MissingKey:
        """Right after DisableKey or ScheduleKeyDeletion KMS may still say the key is usable: re-read once."""
        if change.event_name in DISABLING and isinstance(key, KeyInfo) and key.usable:
            self._r.sleep(EVENTUAL_CONSISTENCY_WAIT_SECONDS)
            return self._describe(arn)
        return key

    # -- the key's alert --------------------------------------------------------------------------------------

    def _with_key_alert(
        self, finding: Finding, change: EncryptionChange, key: KeyInfo | MissingKey, *, shared: bool
    ) -> Finding:
        posture = None
        if isinstance(key, KeyInfo) and key.usable and change.event_name in {"PutKeyPolicy", "DisableKeyRotation"}:
            policy = change.event_name == "PutKeyPolicy"
            posture = self._reader.read(key, rotation=not policy, policy=policy)
        alert = key_alert(
            change,
            key,
            xray=finding.after or finding.before,
            spans=(finding.spans.after or finding.spans.before) if finding.spans else None,
            posture=posture,
            shared=shared,
        )
        return dataclasses.replace(finding, key=alert)

    # -- alias events -----------------------------------------------------------------------------------------

    def _alias_event(self, target: Target, change: EncryptionChange, ref: str, alias: str) -> Finding:
        keys = KeyDirectory(self._r.clients.kms(target.account, target.region))
        current = keys.describe(ref)  # afresh
        if change.event_name == "DeleteAlias" and isinstance(current, KeyInfo):
            self._r.sleep(EVENTUAL_CONSISTENCY_WAIT_SECONDS)  # the deletion may not be visible yet
            current = keys.describe(ref)
        if isinstance(current, MissingKey):
            return self._alias_deleted(target, change, alias)
        failures = self._follow_gate(current, target)
        if not failures:
            # Followed: the region is judged against the new target (in revert mode a region on the previous key is
            # put on it, the real-organizations rule), described afresh just now.
            finding = self._r.check(target, trigger=Trigger.EVENT, change=change, approved=current)
            words = (
                f"{alias} now points to {current.arn}: usable, customer-managed, symmetric, here, posture ok; "
                "xray-guard follows it.",
            )
            return dataclasses.replace(
                finding,
                key=KeyFinding(current.arn, current.state, current.deletion_date, change.event_name, words=words),
            )
        return self._alias_refused(target, change, alias, current, failures)

    def _follow_gate(self, key: KeyInfo, target: Target) -> list[str]:
        """Why a re-pointed approved alias may not be followed: the new target must be usable, customer-managed,
        symmetric, in this account and region, and its posture (rotation and policy) ok."""
        failures = [key.unusable_reason] if key.unusable_reason else []
        where = Arn.of(key.arn)
        if (where.account, where.region) != (target.account, target.region):
            failures.append(f"it is in account {where.account}, region {where.region}, not here")
        if not failures:
            posture = self._reader.read(key)
            if posture.status is PostureStatus.WEAK:
                failures += [p.words for p in posture.problems]
            elif posture.status is PostureStatus.UNKNOWN:
                failures.append(f"its posture could not be read ({posture.error})")
        return failures

    def _alias_refused(
        self, target: Target, change: EncryptionChange, alias: str, key: KeyInfo, failures: list[str]
    ) -> Finding:
        state = XRayEncryption(self._r.clients.xray(target.account, target.region)).get()
        left_on = state.key_arn if state.type is EncryptionType.KMS else state.describe()
        reason = f"{alias} now points to {key.arn}, which fails: {'; '.join(failures)}; X-Ray left on {left_on}"
        words = (
            reason,
            "Nothing was written. Point the alias back, or fix the new key, before the next sweep: the sweep judges "
            "the region against the alias as it is then.",
        )
        region = target.region
        undo = (f"aws kms update-alias --alias-name {alias} --target-key-id <the previous key> --region {region}",)
        key_part = KeyFinding(
            key.arn,
            key.state,
            key.deletion_date,
            change.event_name,
            severity=Severity.CRITICAL,
            headline="X-Ray approved alias points to a key that fails",
            words=words,
            undo=undo,
        )
        return self._event_finding(change, Verdict.KEY_UNUSABLE, reason, state=state, key=key_part)

    def _alias_deleted(self, target: Target, change: EncryptionChange, alias: str) -> Finding:
        state = XRayEncryption(self._r.clients.xray(target.account, target.region)).get()
        uses = (
            f"X-Ray still uses {state.key_arn} (it stores the ARN)"
            if state.type is EncryptionType.KMS
            else f"X-Ray uses {state.describe()}"
        )
        reason = (
            f"approved alias {alias} was deleted: {uses}; reverts and posture are suspended here until the alias exists"
        )
        target_key = key_arn(change.key_ref, target, self._partition(target))
        undo = (
            (f"aws kms create-alias --alias-name {alias} --target-key-id {target_key} --region {target.region}",)
            if target_key
            else ()
        )
        key_part = KeyFinding(
            target_key,
            None,
            None,
            change.event_name,
            severity=Severity.HIGH,
            headline="X-Ray approved KMS alias deleted",
            words=(reason,),
            undo=undo,
        )
        return self._event_finding(change, Verdict.KEY_ALIAS_MISSING, reason, state=state, key=key_part)

    def _event_finding(
        self,
        change: EncryptionChange,
        verdict: Verdict,
        reason: str,
        *,
        state: EncryptionState | None,
        key: KeyFinding,
    ) -> Finding:
        """A finding built here, not by the region check: nothing is written, the key's alert leads."""
        ref = self._r.settings.approved_key_ref(change.region)
        return Finding(
            trigger=Trigger.EVENT,
            account=change.account,
            region=change.region,
            verdict=verdict,
            reason=reason,
            outcome=Outcome.ALERTED,
            mode=self._r.settings.mode,
            before=state,
            after=state,
            approved_key_ref=ref,
            approved_key_arn=None,
            observed_at=self._r.now(),
            actor=change.actor,
            event_id=change.event_id,
            cloudtrail_event_id=change.cloudtrail_event_id,
            event_time=change.event_time,
            exempt_actor=is_exempt(change.actor, self._r.settings.exempt_principals),
            key=key,
        )

    def _error(self, change: EncryptionChange, error: AwsCallError) -> Finding:
        key = KeyFinding(change.key_ref, None, None, change.event_name)
        finding = self._event_finding(change, Verdict.ERROR, f"could not check: {error.code}", state=None, key=key)
        return dataclasses.replace(finding, outcome=Outcome.ERROR, detail=str(error))


def key_alert(
    change: EncryptionChange,
    key: KeyInfo | MissingKey,
    *,
    xray: EncryptionState | None,
    spans: SpansState | None,
    posture: KeyPosture | None,
    shared: bool,
) -> KeyFinding:
    """The key's own alert for a KMS event, in the words issue 11 asks for (pure)."""
    event = change.event_name
    region = change.region
    words: tuple[str, ...]
    if isinstance(key, MissingKey):
        words = (f"{key.unusable_reason}: X-Ray stops storing trace data under it.", REVOCATION_LEVER)
        return KeyFinding(key.ref, None, None, event, posture, Severity.CRITICAL, "X-Ray KMS key gone", words)
    base = KeyFinding(key.arn, key.state, key.deletion_date, event, posture)
    if not key.usable:
        return dataclasses.replace(
            base,
            severity=Severity.CRITICAL,
            headline=_unusable_headline(key.state),
            words=_unusable_words(key, xray, spans, shared),
            undo=_undo(key, region),
        )
    if event in DISABLING:
        words = (
            f"KMS still reports {key.arn} {key.state} {EVENTUAL_CONSISTENCY_WAIT_SECONDS:g} s after {event} by "
            f"{change.actor.arn} (CloudTrail event {change.cloudtrail_event_id or 'n/a'}); KMS is eventually "
            "consistent, so treat the key as going away and check it again.",
            REVOCATION_LEVER,
        )
        return dataclasses.replace(
            base,
            severity=Severity.HIGH,
            headline=f"X-Ray KMS key {event} not yet visible",
            words=words,
            undo=(_enable(key, region),),
        )
    if event == "EnableKey":
        words = (f"{key.arn} is usable again ({key.state}): X-Ray can store trace data under it.",)
        return dataclasses.replace(base, severity=Severity.INFO, headline="X-Ray KMS key usable again", words=words)
    if posture is not None and posture.status is not PostureStatus.OK:
        return _posture_alert(base, key, posture, region)
    return base


def _posture_alert(base: KeyFinding, key: KeyInfo, posture: KeyPosture, region: str) -> KeyFinding:
    event = base.event_name
    read_policy = f"aws kms get-key-policy --key-id {key.arn} --policy-name default --region {region}"
    if posture.status is PostureStatus.UNKNOWN:
        words = (
            f"could not read the key after {event} ({posture.error}). If the account-root statement was removed, "
            "IAM policies (xray-guard's role included) no longer apply to the key.",
        )
        return dataclasses.replace(
            base,
            severity=Severity.HIGH,
            headline=f"X-Ray KMS key unreadable after {event}",
            words=words,
            undo=(read_policy,),
        )
    if event == "DisableKeyRotation":
        undo = (f"aws kms enable-key-rotation --key-id {key.primary_arn or key.arn} --region {region}",)
        return dataclasses.replace(
            base,
            severity=posture.severity,
            headline="X-Ray KMS key rotation turned off",
            words=(posture.render(),),
            undo=undo,
        )
    return dataclasses.replace(
        base,
        severity=posture.severity,
        headline="X-Ray KMS key policy weakened",
        words=(f"key policy {posture.render()}",),
        undo=(read_policy,),
    )


def _unusable_headline(state: str) -> str:
    return {
        "Disabled": "X-Ray KMS key disabled",
        "PendingDeletion": "X-Ray KMS key scheduled for deletion",
        "PendingReplicaDeletion": "X-Ray KMS key scheduled for deletion",
        "PendingImport": "X-Ray KMS key has no key material",
    }.get(state, f"X-Ray KMS key unusable ({state})")


def _unusable_words(
    key: KeyInfo, xray: EncryptionState | None, spans: SpansState | None, shared: bool
) -> tuple[str, ...]:
    words = [f"{key.arn} is {key.state}: X-Ray stops storing trace data under it while it is unusable."]
    if xray is not None and xray.key_arn == key.arn:
        words.append("X-Ray in this region uses this key.")
    if spans is not None and spans.group_exists and spans.key_arn == key.arn:
        words.append("Spans in aws/spans under this key cannot be read while it is unusable.")
    if key.deletion_date:
        words.append(
            f"It is scheduled for deletion on {key.deletion_date}; after it, the key and all trace data under it are "
            "unrecoverable."
        )
    if shared:
        words.append("Every account/region using this key is affected.")
    words.append(REVOCATION_LEVER)
    return tuple(words)


def _enable(key: KeyInfo, region: str) -> str:
    return f"aws kms enable-key --key-id {key.arn} --region {region}"


def _undo(key: KeyInfo, region: str) -> tuple[str, ...]:
    enable: tuple[str, ...] = (_enable(key, region),)
    if key.state in {"PendingDeletion", "PendingReplicaDeletion"}:
        # CancelKeyDeletion leaves the key Disabled (kms model, CancelKeyDeletion).
        return (f"aws kms cancel-key-deletion --key-id {key.arn} --region {region}", *enable)
    if key.state == "Disabled":
        return enable
    if key.state == "PendingImport":
        return (
            f"aws kms get-parameters-for-import --key-id {key.arn} ... then aws kms import-key-material "
            f"(the same key material) --region {region}",
        )
    return ()
