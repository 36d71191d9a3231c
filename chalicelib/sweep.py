"""The scheduled sweep: fan out one SQS message per account, check every enabled region of an account
concurrently through the same pipeline as the event path, and fan in to one digest per sweep.

Fan-in uses a DynamoDB item per sweep: each account writes its result once (conditional put) and bumps a
counter; the account that brings the counter to the expected total publishes the digest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import Target, Verdict
from chalicelib.errors import AwsCallError, XrayGuardError
from chalicelib.findings import Finding
from chalicelib.log import emit
from chalicelib.notify import digest_message
from chalicelib.service import Responder
from chalicelib.sessions import call_aws, paginate

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
    clients = responder.clients
    # Any region of the home partition: botocore's endpoint rule set sends Organizations (and Account
    # Management) calls to that partition's one global endpoint and signing region (us-east-1,
    # us-gov-west-1 or cn-northwest-1; botocore/data/organizations/*/endpoint-rule-set-1.json).
    org = clients.client(clients.home_account(), clients.region, "organizations")
    pages = paginate(org, "organizations", "ListAccounts", "list_accounts")
    return [a["Id"] for page in pages for a in page["Accounts"] if a.get("Status") == "ACTIVE"]


def enabled_regions(responder: Responder, account: str) -> list[str]:
    """The account's enabled regions: account:ListRegions, falling back to ec2:DescribeRegions."""
    if responder.settings.regions:
        return list(responder.settings.regions)
    clients = responder.clients
    home_region = clients.region  # in the home partition; see list_accounts for the global endpoint
    try:
        acct = clients.client(account, home_region, "account")
        pages = paginate(
            acct, "account", "ListRegions", "list_regions", RegionOptStatusContains=["ENABLED", "ENABLED_BY_DEFAULT"]
        )
        return sorted(r["RegionName"] for page in pages for r in page.get("Regions", []))
    except AwsCallError as e:
        emit("regions-fallback", account=account, error=str(e))
    ec2 = clients.client(account, home_region, "ec2")
    page = call_aws("ec2", "DescribeRegions", ec2.describe_regions)
    return sorted(r["RegionName"] for r in page["Regions"])


def check_account(
    responder: Responder, account: str, *, workers: int = MAX_REGION_WORKERS, trigger: str = "sweep"
) -> list[Finding]:
    """Check every enabled region of one account concurrently. Raises AwsCallError if the account is unreachable."""
    responder.clients.ensure_access(account)
    regions = enabled_regions(responder, account)
    if not regions:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(regions))) as pool:
        return list(pool.map(lambda r: responder.check(Target(account, r), trigger=trigger), regions))


# The sweeps table's keys (infra/central.json declares the same; the demo and tests create it from here).
TABLE_KEYS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "sweep_id", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "sweep_id", "AttributeType": "S"},
        {"AttributeName": "item", "AttributeType": "S"},
    ],
}


class SweepStore:
    """Fan-in state of sweeps in a DynamoDB table (partition key `sweep_id`, sort key `item`)."""

    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    def begin(self, sweep_id: str, expected: int, ttl_seconds: int = 7 * 86400) -> None:
        item = {
            "sweep_id": {"S": sweep_id},
            "item": {"S": "#meta"},
            "expected": {"N": str(expected)},
            "done": {"N": "0"},
            "expires_at": {"N": str(int(time.time()) + ttl_seconds)},
        }
        call_aws("dynamodb", "PutItem", lambda: self._ddb.put_item(TableName=self._table, Item=item))

    def record(self, sweep_id: str, account: str, result: dict[str, Any]) -> bool:
        """Store one account's result once; return True if it was the last account of the sweep."""
        item = {
            "sweep_id": {"S": sweep_id},
            "item": {"S": f"account#{account}"},
            "result": {"S": json.dumps(result)},
        }
        try:
            call_aws(
                "dynamodb",
                "PutItem",
                lambda: self._ddb.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(sweep_id)"
                ),
            )
        except AwsCallError as e:
            if e.code == "ConditionalCheckFailedException":
                return False  # a duplicate delivery: this account was already counted
            raise
        response = call_aws(
            "dynamodb",
            "UpdateItem",
            lambda: self._ddb.update_item(
                TableName=self._table,
                Key={"sweep_id": {"S": sweep_id}, "item": {"S": "#meta"}},
                UpdateExpression="ADD done :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            ),
        )
        attrs = response["Attributes"]
        return int(attrs["done"]["N"]) >= int(attrs.get("expected", {"N": "0"})["N"])

    def results(self, sweep_id: str) -> dict[str, dict[str, Any]]:
        pages = paginate(
            self._ddb,
            "dynamodb",
            "Query",
            "query",
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression="sweep_id = :s AND begins_with(#i, :p)",
            ExpressionAttributeNames={"#i": "item"},
            ExpressionAttributeValues={":s": {"S": sweep_id}, ":p": {"S": "account#"}},
        )
        return {
            item["item"]["S"].removeprefix("account#"): json.loads(item["result"]["S"])
            for page in pages
            for item in page["Items"]
        }


def account_result(findings: Sequence[Finding]) -> dict[str, Any]:
    """What one account contributes to the digest: counts, and the non-compliant findings in full."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.verdict.value] = counts.get(f.verdict.value, 0) + 1
    return {
        "counts": counts,
        "non_compliant": [f.to_json() for f in findings if f.verdict is not Verdict.COMPLIANT],
        "error": None,
    }


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
        self._store.begin(sweep_id, len(accounts))
        for batch in _chunks([SweepMessage(sweep_id, a) for a in accounts], _SQS_BATCH):
            entries = [{"Id": str(i), "MessageBody": m.to_body()} for i, m in enumerate(batch)]
            response = self._send_batch(entries)
            if response.get("Failed"):
                raise AwsCallError("sqs", "SendMessageBatch", "PartialFailure", json.dumps(response["Failed"]))
        emit("sweep-started", sweep_id=sweep_id, accounts=len(accounts), storm_recaps=recaps)
        return {"sweep_id": sweep_id, "accounts": len(accounts), "storm_recaps": recaps}

    def _send_batch(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        result: dict[str, Any] = call_aws(
            "sqs", "SendMessageBatch", lambda: self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        )
        return result

    def sweep_account(self, body: str) -> dict[str, Any]:
        """Check one account. An unreachable account raises, so SQS retries it and then dead-letters it."""
        message = SweepMessage.from_body(body)
        try:
            findings = check_account(self._responder, message.account)
        finally:
            # A warm container gets a different account each time: keeping each one's clients would only grow.
            self._responder.clients.release(message.account)
        result = account_result(findings)
        emit("sweep-account", sweep_id=message.sweep_id, account=message.account, counts=result["counts"])
        if self._store.record(message.sweep_id, message.account, result):
            self.publish_digest(message.sweep_id)
        return {"account": message.account, **result["counts"]}

    def account_failed(self, body: str, error: str) -> None:
        """Called for a message that exhausted its retries (from the dead-letter queue)."""
        message = SweepMessage.from_body(body)
        result = {"counts": {}, "non_compliant": [], "error": error}
        emit("sweep-account-failed", sweep_id=message.sweep_id, account=message.account, error=error)
        if self._store.record(message.sweep_id, message.account, result):
            self.publish_digest(message.sweep_id)

    def publish_digest(self, sweep_id: str) -> None:
        results = self._store.results(sweep_id)
        self._responder.deliver(digest_message(sweep_id, results))
        emit("sweep-digest", sweep_id=sweep_id, accounts=len(results))


def _chunks(items: Sequence[SweepMessage], size: int) -> Iterable[Sequence[SweepMessage]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
