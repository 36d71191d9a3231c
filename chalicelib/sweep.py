"""The scheduled sweep: fan out one SQS message per account, check every enabled region of an account
concurrently through the same pipeline as the event path, and fan in to one digest per sweep.

Fan-in uses the central DynamoDB table: each account writes its result once (conditional put) and adds itself to
the sweep's set of accounts done (idempotent, so a redelivered message counts an account the failed delivery stored
but did not count); the delivery that completes the set claims the digest (conditional) and publishes it, releasing
the claim if SNS refuses, so SQS's next delivery sends it and a duplicate delivery sends no second one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.coverage import CoverageReader, destination_for
from chalicelib.coverage_policy import DENIAL_CODES, is_gap, judge, unreachable, verdict
from chalicelib.domain import Arn, KeyInfo, PostureStatus, Target, Trigger, Verdict
from chalicelib.errors import AwsCallError, XrayGuardError
from chalicelib.events import PATTERN
from chalicelib.findings import Finding
from chalicelib.keyguard import posture_book
from chalicelib.kms import KeyDirectory, PostureBook
from chalicelib.log import emit
from chalicelib.notify import digest_message
from chalicelib.organization import EnabledRegions, OrganizationAccounts
from chalicelib.service import Responder
from chalicelib.sessions import call_aws
from chalicelib.table import CentralTable, expiry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_REGION_WORKERS = 17
_SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries


@dataclass(frozen=True)
class SweepMessage:
    sweep_id: str
    account: str

    def to_body(self) -> str:
        return json.dumps({"sweep_id": self.sweep_id, "account": self.account})

    @classmethod
    def from_body(cls, body: str) -> SweepMessage:
        try:
            data = json.loads(body)
            return cls(sweep_id=str(data["sweep_id"]), account=str(data["account"]))
        except (ValueError, KeyError, TypeError) as e:
            raise XrayGuardError(f"malformed sweep message: {body[:200]!r}") from e


def list_accounts(responder: Responder) -> list[str]:
    """Accounts to cover: the explicit list, or every ACTIVE account of the organization."""
    explicit = responder.settings.account_list
    if explicit is not None:
        return list(explicit)
    return OrganizationAccounts(responder.clients.organizations()).active()


def enabled_regions(responder: Responder, account: str) -> list[str]:
    """The Regions to check in an account: the configured ones, else the account's enabled Regions."""
    if responder.settings.regions:
        return list(responder.settings.regions)
    clients = responder.clients
    return EnabledRegions(account, lambda: clients.account(account), lambda: clients.ec2(account)).names()


def check_account(
    responder: Responder,
    account: str,
    *,
    workers: int = MAX_REGION_WORKERS,
    trigger: Trigger = Trigger.SWEEP,
    posture: PostureBook | None = None,
) -> list[Finding]:
    """Check every enabled region of one account concurrently, each with its event coverage. Raises AwsCallError if
    the account is unreachable. With a posture book each finding carries the approved key's posture, read once per
    key per book."""
    clients = responder.clients
    clients.ensure_access(account)
    regions = enabled_regions(responder, account)
    if not regions:
        return []
    reader = CoverageReader(clients, account, destination_for(responder.settings, clients))
    with ThreadPoolExecutor(max_workers=min(workers, len(regions))) as pool:
        checks = pool.map(lambda r: responder.check(Target(account, r), trigger=trigger, posture=posture), regions)
        rules = pool.map(reader.rules, regions)
        trails = reader.trails(regions)  # a few calls in a row, while the workers check the regions
        findings, readings = list(checks), list(rules)
    coverage = {r: judge(r, rule, trails[r], PATTERN) for r, rule in zip(regions, readings, strict=True)}
    emit("coverage", account=account, gaps={r: c for r, c in coverage.items() if is_gap(c)})
    return [dataclasses.replace(f, coverage=coverage[f.region]) for f in findings]


def central_keys(responder: Responder) -> dict[str, dict[str, Any]]:
    """The posture of every approved key configured by ARN (the real-organizations issue's central key), read once
    per sweep by scheduled_sweep with its owner's credentials (the home account's own, or its XRayGuardMember).
    Every account/region using such a key is affected by what is found."""
    settings = responder.settings
    refs = settings.central_key_refs
    if not refs:
        return {}
    book = posture_book(responder, fix_rotation=settings.fix_key_rotation, foreign_keys=True)
    found: dict[str, dict[str, Any]] = {}
    for ref in refs:
        where = Arn.of(ref)
        owner, region = where.account, where.region
        try:
            key = KeyDirectory(responder.clients.kms(owner, region)).describe(ref)
        except AwsCallError as e:
            found[ref] = {"state": None, "posture": f"unknown: {e}", "severity": None, "fixed": ""}
            continue
        if not isinstance(key, KeyInfo):
            found[ref] = {"state": None, "posture": f"unknown: {key.unusable_reason}", "severity": None, "fixed": ""}
            continue
        posture = book.get(key, owner)
        assert posture is not None  # a book that reads foreign keys always answers
        found[ref] = {"state": key.state, "posture": posture.render(), "severity": posture.severity,
                      "fixed": posture.fixed}  # fmt: skip
    return found


def assume_denied(error: AwsCallError) -> bool:
    """The member role refused us: retrying will not change that, so the account is an `error` result at once."""
    return (error.service, error.operation) == ("sts", "AssumeRole") and error.code in DENIAL_CODES


def unreachable_coverage(error: AwsCallError) -> str:
    """The coverage of an account that could not be checked at all: unknown, and why."""
    return unreachable(error.operation, error.code)


@dataclass(frozen=True)
class Recorded:
    new: bool  # this delivery stored the account's result (False: SQS delivered the message again)
    last: bool  # every account of the sweep is counted: the digest is due (unless already sent)


SWEEP_TTL_SECONDS = 7 * 86400  # a sweep's items, then DynamoDB's TTL deletes them (infra/central.json: expires_at)


class SweepStore:
    """Fan-in state of sweeps in the central table: a `#meta` item per sweep and one `account#<id>` item each, every
    one with an expiry (`expires_at`, the table's TTL attribute), so that the table holds the last week of sweeps,
    not every account's result of every sweep since deployment."""

    def __init__(
        self,
        client: Callable[[], DynamoDBClient],
        table: str,
        *,
        ttl_seconds: int = SWEEP_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = CentralTable(client, table)
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def _expiry(self) -> dict[str, Any]:
        return expiry(self._clock() + self._ttl_seconds)

    def begin(self, sweep_id: str, expected: int, central_keys: dict[str, dict[str, Any]] | None = None) -> None:
        expires = self._expiry()
        if central_keys:
            # Their own item: every account's count returns the whole `#meta` (below), which thus holds only the count.
            self._table.put(sweep_id, "#central", {"central_keys": {"S": json.dumps(central_keys)}, **expires})
        self._table.put(sweep_id, "#meta", {"expected": {"N": str(expected)}, **expires})

    def record(self, sweep_id: str, account: str, result: dict[str, Any]) -> Recorded:
        """Store one account's result once and count the account; say whether this delivery stored the result and
        whether every account is now counted (the digest is due unless it was already sent: `claim_digest`).

        The count is the set of accounts done, so counting is idempotent: a delivery that stored the result but
        failed before counting it (a throttled UpdateItem, a timeout) is counted by SQS's next delivery instead of
        leaving the sweep one account short, without a digest, for good."""
        new = True
        try:
            item = {"result": {"S": json.dumps(result)}, **self._expiry()}
            self._table.put(sweep_id, f"account#{account}", item, only_new=True)
        except AwsCallError as e:
            if e.code != "ConditionalCheckFailedException":
                raise
            new = False  # SQS delivered the message again: the result is stored; count it (again) all the same
        # ALL_NEW of an item that holds only the count (`expected`, the set, the expiry, the digest claim). Not
        # UPDATED_NEW, "only the updated attributes" (dynamodb model, UpdateItem ReturnValues): it leaves out
        # `expected`, and whether it returns an attribute the update left as it was (a redelivery's ADD) is not
        # documented; moto, so localaws, leaves it out, which would make a redelivered last account not the last.
        attrs = self._table.update(
            sweep_id, "#meta", "ADD done_accounts :me", {":me": {"SS": [account]}}, ReturnValues="ALL_NEW"
        )
        done = len(attrs["done_accounts"]["SS"])
        return Recorded(new=new, last=done >= int(attrs.get("expected", {"N": "0"})["N"]))

    def claim_digest(self, sweep_id: str) -> bool:
        """Mark the sweep's digest as being sent; False if it already was (a duplicate delivery of its last account)."""
        try:
            self._table.update(
                sweep_id, "#meta", "SET digest_sent = :now", {":now": {"N": str(int(time.time()))}},
                ConditionExpression="attribute_not_exists(digest_sent)",
            )  # fmt: skip
        except AwsCallError as e:
            if e.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_digest(self, sweep_id: str) -> None:
        """The digest could not be sent: let the next delivery of the last account send it."""
        self._table.update(sweep_id, "#meta", "REMOVE digest_sent", {})

    def outcome(self, sweep_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """The sweep's results by account, and what scheduled_sweep found about the central keys, in one read."""
        results: dict[str, dict[str, Any]] = {}
        central: dict[str, dict[str, Any]] = {}
        for item in self._table.partition(sweep_id):
            name = item["item"]["S"]
            if name.startswith("account#"):
                results[name.removeprefix("account#")] = json.loads(item["result"]["S"])
            elif "central_keys" in item:  # the `#central` item (`#meta` before it had its own)
                central = json.loads(item["central_keys"]["S"])
        return results, central


def account_result(findings: Sequence[Finding]) -> dict[str, Any]:
    """What one account contributes to the digest: counts, the non-compliant findings in full, every region whose
    events cannot be shown to reach xray-guard, and each approved key whose posture is not ok (or whose rotation
    xray-guard turned on), once per key."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.verdict.value] = counts.get(f.verdict.value, 0) + 1
    keys: dict[str, dict[str, Any]] = {}
    for f in findings:
        posture = f.key.posture if f.key else None
        if f.key is None or f.key.arn is None or posture is None or f.key.arn in keys:
            continue
        if posture.status is not PostureStatus.OK or posture.fixed:
            keys[f.key.arn] = {"account": f.account, "region": f.region, "key": f.key.arn,
                               "posture": posture.render(), "severity": posture.severity,
                               "fixed": posture.fixed}  # fmt: skip
    return {
        "counts": counts,
        "non_compliant": [f.to_json() for f in findings if f.verdict is not Verdict.COMPLIANT],
        "key_posture": list(keys.values()),
        "error": None,
        "coverage_gaps": [coverage_gap(f.account, f.region, f.coverage) for f in findings if is_gap(f.coverage)],
    }


def failed_result(account: str, error: str, coverage: str) -> dict[str, Any]:
    """The result of an account that could not be checked: an error, and its coverage unknown."""
    return {"counts": {}, "non_compliant": [], "error": error, "coverage_gaps": [coverage_gap(account, "*", coverage)]}


def coverage_gap(account: str, region: str, coverage: str | None) -> dict[str, str]:
    return {"account": account, "region": region, "coverage": str(coverage)}


class Sweeper:
    """Runs the three steps of a sweep; each step is one Lambda handler in app.py."""

    def __init__(
        self,
        responder: Responder,
        store: SweepStore,
        sqs: Any,
        queue_url: str,
        *,
        new_id: Callable[[], str],
    ) -> None:
        self._responder = responder
        self._store = store
        self._sqs = sqs
        self._queue_url = queue_url
        self._new_id = new_id

    def start(self) -> dict[str, Any]:
        """Enqueue one message per account (batched); the digest comes when the last account reports."""
        recaps = self._responder.recap_storms()  # closed hours whose drift alerts storm control held back
        sweep_id = self._new_id()
        accounts = list_accounts(self._responder)
        keys = central_keys(self._responder)
        self._store.begin(sweep_id, len(accounts), central_keys=keys)
        for batch in _chunks([SweepMessage(sweep_id, a) for a in accounts], _SQS_BATCH):
            entries = [{"Id": str(i), "MessageBody": m.to_body()} for i, m in enumerate(batch)]
            response = self._send_batch(entries)
            if response.get("Failed"):
                raise AwsCallError("sqs", "SendMessageBatch", "PartialFailure", json.dumps(response["Failed"]))
        emit("sweep-started", sweep_id=sweep_id, accounts=len(accounts), storm_recaps=recaps, central_keys=keys)
        return {"sweep_id": sweep_id, "accounts": len(accounts), "storm_recaps": recaps, "central_keys": len(keys)}

    def _send_batch(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        result: dict[str, Any] = call_aws(
            "sqs", "SendMessageBatch", lambda: self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        )
        return result

    def sweep_account(self, body: str) -> dict[str, Any]:
        """Check one account. An unreachable account raises, so SQS retries it and then dead-letters it."""
        message = SweepMessage.from_body(body)
        # Each key's posture once in this invocation (keys of other accounts: scheduled_sweep reads those).
        book = posture_book(self._responder, fix_rotation=self._responder.settings.fix_key_rotation, foreign_keys=False)
        try:
            findings = check_account(self._responder, message.account, posture=book)
            result = account_result(findings)
            # Before the release: Security Hub imports a member's findings in that account, with its credentials.
            result["notes"] = self._responder.send_sweep_findings(findings)
        except AwsCallError as e:
            if not assume_denied(e):
                raise  # a crash or throttling: SQS delivers the message again, then dead-letters it
            # A denial is final: record the account as failed now rather than after every retry.
            self._record_failed(message, f"the member role could not be assumed: {e}", unreachable_coverage(e))
            return {"account": message.account, "error": e.code}
        finally:
            # A warm container gets a different account each time: keeping each one's clients would only grow.
            self._responder.clients.release(message.account)
        emit("sweep-account", sweep_id=message.sweep_id, account=message.account, counts=result["counts"])
        self._record(message, result)
        return {"account": message.account, **result["counts"]}

    def account_failed(self, body: str, error: str) -> None:
        """Called for a message that exhausted its retries (from the dead-letter queue)."""
        self._record_failed(SweepMessage.from_body(body), error, verdict([], ["account not checked after retries"]))

    def _record_failed(self, message: SweepMessage, error: str, coverage: str) -> None:
        emit("sweep-account-failed", sweep_id=message.sweep_id, account=message.account, error=error)
        self._record(message, failed_result(message.account, error, coverage))

    def _record(self, message: SweepMessage, result: dict[str, Any]) -> None:
        recorded = self._store.record(message.sweep_id, message.account, result)
        if recorded.new:
            # One line per gap, once per account and sweep (not again for a redelivered message): the CoverageGaps
            # metric filter counts them. An account that could not be checked is one gap, region "*".
            for gap in result["coverage_gaps"]:
                emit("coverage-gap", sweep_id=message.sweep_id, **gap)
        # Claimed before it is published, released if SNS refuses it. A function that dies between the two (a
        # timeout) leaves the claim: that sweep then sends no digest, while its results stay in the table and logs.
        if recorded.last and self._store.claim_digest(message.sweep_id):
            try:
                self.publish_digest(message.sweep_id)
            except BaseException:
                self._store.release_digest(message.sweep_id)
                raise

    def publish_digest(self, sweep_id: str) -> None:
        results, central_keys = self._store.outcome(sweep_id)
        self._responder.deliver(digest_message(sweep_id, results, central_keys))
        emit("sweep-digest", sweep_id=sweep_id, accounts=len(results))


def _chunks(items: Sequence[SweepMessage], size: int) -> Iterable[Sequence[SweepMessage]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
