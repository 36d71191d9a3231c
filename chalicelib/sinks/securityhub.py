"""AWS Security Hub CSPM: one finding per account, region and store (X-Ray's encryption config; Transaction Search's
`aws/spans`), in ASFF through BatchImportFindings — the only import API (the OCSF "...V2" operations have none:
botocore securityhub model).

With the default product ARN the caller must be the finding's account ("the identifier of the account that you are
calling BatchImportFindings from needs to be the same as the AwsAccountId attribute": model, BatchImportFindings),
so a member account's finding is imported in that account and region through the member role; the Security Hub
administrator aggregates it. Providers set severity and types in FindingProviderFields, on create and on every
re-import, never top-level Severity/Types, Workflow, Note, UserDefinedFields or VerificationState (same page).

A drift is Compliance FAILED, RecordState ACTIVE. A store that ends compliant, or reverted and verified, is the same
Id re-imported PASSED, ARCHIVED, INFORMATIONAL; a later drift re-opens it. CreatedAt is the first detection of the
open finding (read back with GetFindings), UpdatedAt now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import Outcome, Severity, SinkName, Verdict
from chalicelib.errors import AwsCallError, SinkFailed
from chalicelib.findings import Finding
from chalicelib.log import emit
from chalicelib.notify import fix_commands
from chalicelib.sessions import call_aws

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
STORES = ("xray", "spans")
_LABELS = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    Severity.INFO: "INFORMATIONAL",
}
_TITLES = {
    "xray": "X-Ray trace data not under the approved KMS key",
    "spans": "X-Ray spans (Transaction Search, aws/spans) not under the approved KMS key",
}

# How Security Hub answers where it is not enabled (botocore securityhub model: InvalidAccessException, "The account
# doesn't have permission to perform this action" / not subscribed). Logged and named, never retried.
NOT_ENABLED = "InvalidAccessException"


def finding_id(account: str, region: str, store: str) -> str:
    """Stable per account, region and store: a later check re-imports (updates) the same finding."""
    return f"xray-guard/{account}/{region}/{store}"


def store_state(finding: Finding, store: str) -> tuple[Verdict, Outcome, str] | None:
    """A store's own verdict, outcome and reason, or None when it was not judged (an error, or not checked)."""
    if store == "xray":
        verdict, outcome, reason = finding.xray_store_verdict, finding.xray_store_outcome, finding.xray_store_reason
    elif finding.spans is None:
        return None
    else:
        verdict, outcome, reason = finding.spans.verdict, finding.spans.outcome, finding.spans.reason
    if verdict is Verdict.ERROR or outcome is Outcome.ERROR:
        return None
    return verdict, outcome, reason


def asff(finding: Finding, store: str, *, partition: str, now: str, created_at: str) -> dict[str, Any] | None:
    """The ASFF document of one store of a finding (pure), or None when that store could not be judged."""
    state = store_state(finding, store)
    if state is None:
        return None
    verdict, outcome, reason = state
    failed = verdict is not Verdict.COMPLIANT and outcome is not Outcome.REVERTED
    account, region = finding.account, finding.region
    if store == "spans":
        resource = {"Type": "Other", "Id": f"arn:{partition}:logs:{region}:{account}:log-group:aws/spans"}
    else:
        # X-Ray's encryption config has no ARN; this identifier is ours, in ARN form (ASFF: "ideally an ARN").
        resource = {"Type": "Other", "Id": f"arn:{partition}:xray:{region}:{account}:encryption-config"}
    label = _LABELS[finding.severity] if failed else "INFORMATIONAL"
    document: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(account, region, store),
        "ProductArn": f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": f"xray-guard/{store}-encryption",
        "AwsAccountId": account,
        "Region": region,
        "CreatedAt": created_at,
        "UpdatedAt": now,
        "Title": _TITLES[store],
        "Description": (reason if failed else f"Compliant: {reason}")[:1024],
        "Resources": [{**resource, "Partition": partition, "Region": region}],
        "Compliance": {"Status": "FAILED" if failed else "PASSED"},
        "RecordState": "ACTIVE" if failed else "ARCHIVED",
        "FindingProviderFields": {"Severity": {"Label": label}, "Types": [FINDING_TYPE]},
        "ProductFields": {"xray-guard/verdict": verdict.value, "xray-guard/outcome": outcome.value},
    }
    if failed:
        document["Remediation"] = {"Recommendation": {"Text": " ; ".join(fix_commands(finding))[:512]}}
    return document


def _moment(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _later(timestamp: str) -> str:
    """One millisecond after an ISO 8601 timestamp, in UTC with milliseconds."""
    moment = _moment(timestamp) + timedelta(milliseconds=1)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_utc() -> str:
    """Security Hub timestamps with milliseconds: two imports in one second must still be ordered."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SecurityHubSink:
    """Imports each checked store into Security Hub CSPM in the finding's own account and region."""

    name = SinkName.SECURITY_HUB

    def __init__(
        self,
        client_for: Callable[[str, str], Any],
        partition_for: Callable[[str], str],
        now: Callable[[], str],
    ) -> None:
        self._client_for = client_for
        self._partition_for = partition_for
        self._now = now

    def wants(self, finding: Finding) -> bool:
        return any(store_state(finding, store) is not None for store in STORES)

    def send(self, finding: Finding) -> str | None:
        client = self._client_for(finding.account, finding.region)
        ids = [finding_id(finding.account, finding.region, store) for store in STORES]
        try:
            existing = self._existing(client, ids)
            now = self._now()
            documents = []
            for store in STORES:
                doc = asff(finding, store, partition=self._partition_for(finding.region), now=now, created_at=now)
                if doc is None:
                    continue
                previous = existing.get(doc["Id"])
                # CreatedAt: the first detection of the open finding; a drift that re-opens a closed one is new.
                if previous and (doc["RecordState"] == "ARCHIVED" or previous.get("RecordState") == "ACTIVE"):
                    doc["CreatedAt"] = previous.get("CreatedAt", now)
                # Security Hub ignores an update whose UpdatedAt is not later than the stored one (Security Hub user
                # guide on updating findings with BatchImportFindings; localaws/securityhub.py emulates it):
                # keep it strictly increasing even for two checks within one millisecond.
                if previous and "UpdatedAt" in previous and _moment(previous["UpdatedAt"]) >= _moment(now):
                    doc["UpdatedAt"] = _later(previous["UpdatedAt"])
                documents.append(doc)
            answer = call_aws(
                "securityhub", "BatchImportFindings", lambda: client.batch_import_findings(Findings=documents)
            )
        except AwsCallError as e:
            if e.code == NOT_ENABLED:
                note = f"Security Hub CSPM is not enabled in {finding.account} {finding.region}"
                emit("securityhub-not-enabled", account=finding.account, region=finding.region, error=str(e))
                return note
            raise SinkFailed(f"Security Hub import failed: {e}") from e
        if answer.get("FailedCount", 0):
            raise SinkFailed(f"Security Hub refused {answer['FailedCount']} finding(s): {answer.get('FailedFindings')}")
        return None

    @staticmethod
    def _existing(client: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        filters = {"Id": [{"Value": i, "Comparison": "EQUALS"} for i in ids]}
        answer = call_aws("securityhub", "GetFindings", lambda: client.get_findings(Filters=filters, MaxResults=10))
        return {f["Id"]: f for f in answer.get("Findings", [])}
