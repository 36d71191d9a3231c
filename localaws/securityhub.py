"""AWS Security Hub CSPM findings (``BatchImportFindings`` / ``GetFindings``) with the rules moto 5.2.5 leaves out:
moto stores every finding it is given, never checks the caller or whether Security Hub is enabled, overwrites every
field on re-import and ignores ``Filters``.

Wire contract, from botocore data/securityhub/2018-10-26/service-2.json (protocol rest-json): ``POST
/findings/import`` takes ``Findings`` (BatchImportFindingsRequestFindingList: 1 to 100 AwsSecurityFinding) and
answers ``FailedCount``, ``SuccessCount`` and ``FailedFindings`` (ImportFindingsError: ``Id``, ``ErrorCode``,
``ErrorMessage``); ``POST /findings`` takes ``Filters``, ``SortCriteria``, ``MaxResults`` (1-100) and ``NextToken``
and answers ``Findings`` and ``NextToken``. Both model ``InvalidAccessException`` (HTTP 401),
``InvalidInputException`` (400), ``LimitExceededException`` (429) and ``InternalException`` (500).

Whether Security Hub is enabled stays moto's (it serves ``EnableSecurityHub``, ``DisableSecurityHub`` and
``DescribeHub``; read through ``moto_bridge.security_hub_enabled``). The findings are kept here, per (account,
region), keyed by ``ProductArn`` and ``Id`` (the AwsSecurityFindingIdentifier shape). Only the default product of the
calling account is served: localaws has no partner integrations.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Response

from localaws import moto_bridge
from localaws.protocol import AwsRequest, error_response, error_status, json_response, partition_of

OPERATIONS = frozenset({"BatchImportFindings", "GetFindings"})

EnabledCheck = Callable[[str, str], bool]
Finding = dict[str, Any]

# BatchImportFindingsRequest.Findings: "Maximum of 100 findings per request" (list min 1, max 100).
MAX_BATCH = 100
# "The maximum allowed size for a finding is 240 Kb. An error is returned for any finding larger than 240 Kb."
# (BatchImportFindings). Assumption: 240 × 1024 bytes of the finding's compact JSON.
MAX_FINDING_BYTES = 240 * 1024
# GetFindingsRequest.MaxResults (shape MaxResults: 1-100). Assumption: 100 when not given (no default documented).
MAX_RESULTS = 100
# AwsSecurityFinding.SchemaVersion: "The value is 2018-10-08."
SCHEMA_VERSION = "2018-10-08"

# AwsSecurityFinding's required members, with the maximum lengths its member docs give ("Length Constraints").
_REQUIRED_STRINGS: Mapping[str, int | None] = {
    "SchemaVersion": None,
    "Id": 512,
    "ProductArn": 2048,
    "GeneratorId": 512,
    "AwsAccountId": 12,
    "CreatedAt": None,
    "UpdatedAt": None,
    "Title": 256,
    "Description": 1024,
}
_MAX_RESOURCES = 32  # AwsSecurityFinding.Resources: "Minimum number of 1 item. Maximum number of 32 items."
_MAX_TYPES = 50  # AwsSecurityFinding.Types: "Maximum number of 50 items."
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# The message form Security Hub gives a finding that breaks the ASFF schema, as reported from real AWS: "Finding does
# not adhere to Amazon Finding Format. data should have required property 'FindingProviderFields', ..."
# (github.com/aws-samples/aws-securityhub-config-integration/issues/3, ErrorCode InvalidInput).
_NOT_ASFF = "Finding does not adhere to Amazon Finding Format."

# "After a finding is created, BatchImportFindings cannot be used to update the following finding fields and
# objects ... Note, UserDefinedFields, VerificationState, Workflow" (BatchImportFindings doc); "Security Hub ignores
# any content in BatchImportFindings for those attributes" (user guide, BatchImportFindings for finding providers).
KEPT_AFTER_CREATE = ("Note", "UserDefinedFields", "VerificationState", "Workflow")
# The attributes that FindingProviderFields carries for the provider (FindingProviderFields shape).
PROVIDER_ATTRIBUTES = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")

# Enumerations of the model (SeverityLabel, RecordState, ComplianceStatus, VerificationState, WorkflowStatus).
_SEVERITY_LABELS = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_ENUMS: Mapping[tuple[str, ...], tuple[str, ...]] = {
    ("RecordState",): ("ACTIVE", "ARCHIVED"),
    ("Compliance", "Status"): ("PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"),
    ("VerificationState",): ("UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE"),
    ("Workflow", "Status"): ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"),
}
# Severity.Normalized from Label: "INFORMATIONAL - 0, LOW - 1, MEDIUM - 40, HIGH - 70, CRITICAL - 90" (Severity).
_NORMALIZED_OF_LABEL = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}

# AwsSecurityFindingFilters members served here (StringFilterList each), with where their values sit in a finding.
# A path through a list (Types, Resources) gives the finding several values.
STRING_FILTER_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Id": ("Id",),
    "AwsAccountId": ("AwsAccountId",),
    "ProductArn": ("ProductArn",),
    "GeneratorId": ("GeneratorId",),
    "Region": ("Region",),
    "Title": ("Title",),
    "Type": ("Types",),
    "RecordState": ("RecordState",),
    "ComplianceStatus": ("Compliance", "Status"),
    "SeverityLabel": ("Severity", "Label"),
    "WorkflowStatus": ("Workflow", "Status"),
    "ResourceType": ("Resources", "Type"),
    "ResourceId": ("Resources", "Id"),
    "FindingProviderFieldsSeverityLabel": ("FindingProviderFields", "Severity", "Label"),
    "FindingProviderFieldsTypes": ("FindingProviderFields", "Types"),
}
# GetFindingsRequest.Filters: "You can filter by up to 10 finding attributes. For each attribute, you can provide up
# to 20 filter values."
_MAX_FILTER_FIELDS = 10
_MAX_FILTER_VALUES = 20
# StringFilter.Comparison: "CONTAINS, EQUALS, and PREFIX filters on the same field are joined by OR"; "NOT_CONTAINS,
# NOT_EQUALS, and PREFIX_NOT_EQUALS filters on the same field are joined by AND". CONTAINS_WORD "works only in the
# GetFindingsV2, GetFindingStatisticsV2, GetResourcesV2, and GetResourcesStatisticsV2 APIs".
_POSITIVE = frozenset({"EQUALS", "PREFIX", "CONTAINS"})
_NEGATIVE = frozenset({"NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS"})


def default_product_arn(account: str, region: str) -> str:
    """The product ARN Security Hub generates for an account's own findings: "arn:aws:securityhub:<region>:
    <account-id>:product/<account-id>/default" (user guide, "Using custom product integrations to send findings to
    AWS Security Hub"), with the region's partition."""
    return f"arn:{partition_of(region)}:securityhub:{region}:{account}:product/{account}/default"


class RequestError(Exception):
    """An error of the whole request, answered with the status the securityhub model gives ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Rejected(Exception):
    """One finding that does not import: an entry of ``FailedFindings``, not an error of the request."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SecurityHubFindings:
    """The findings of every (account, region), imported with ``BatchImportFindings`` and read with
    ``GetFindings``."""

    def __init__(self, is_enabled: EnabledCheck = moto_bridge.security_hub_enabled) -> None:
        self._is_enabled = is_enabled
        self._findings: dict[tuple[str, str], dict[tuple[str, str], Finding]] = {}
        self._lock = threading.Lock()

    def handle(self, request: AwsRequest, account: str) -> Response:
        try:
            if request.operation == "BatchImportFindings":
                answer = self.import_findings(account, request.region, request.params)
            else:
                answer = self.get_findings(account, request.region, request.params)
        except RequestError as error:
            return error_response(request, error.code, str(error), error_status("securityhub", error.code))
        return json_response(answer)

    def import_findings(self, account: str, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        findings = params.get("Findings")
        if not isinstance(findings, list) or not 1 <= len(findings) <= MAX_BATCH:
            raise RequestError("InvalidInputException", f"Findings must be a list of 1 to {MAX_BATCH} findings")
        for finding in findings:
            _authorize(finding, account, region)
        self._require_enabled(account, region)
        failed: list[dict[str, str]] = []
        with self._lock:
            stored = self._findings.setdefault((account, region), {})
            for finding in findings:
                try:
                    _check(finding)
                except Rejected as rejection:
                    failed.append({"Id": _id_of(finding), "ErrorCode": rejection.code, "ErrorMessage": str(rejection)})
                    continue
                key = (finding["ProductArn"], finding["Id"])
                previous = stored.get(key)
                if previous is None:
                    stored[key] = created(finding, region)
                elif _timestamp(finding["UpdatedAt"]) > _timestamp(previous["UpdatedAt"]):
                    stored[key] = updated(previous, finding, region)
                # Otherwise the update is ignored: "If UpdatedAt on the update matches or occurs before UpdatedAt
                # on the existing finding, then the update is ignored" (user guide, BatchImportFindings for finding
                # providers). Assumption: it still counts as a success, as nothing failed.
        return {"FailedCount": len(failed), "SuccessCount": len(findings) - len(failed), "FailedFindings": failed}

    def get_findings(self, account: str, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self._require_enabled(account, region)
        filters = parse_filters(params.get("Filters"))
        if params.get("SortCriteria"):
            raise RequestError("InvalidInputException", "localaws does not sort findings: leave SortCriteria out")
        max_results = params.get("MaxResults", MAX_RESULTS)
        if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
            raise RequestError("InvalidInputException", f"MaxResults must be between 1 and {MAX_RESULTS}")
        with self._lock:
            # Assumption: without SortCriteria, findings come in the order they were first imported.
            matching = [
                copy.deepcopy(finding)
                for finding in self._findings.get((account, region), {}).values()
                if all(f.matches(finding) for f in filters)
            ]
        start = _offset(params.get("NextToken"), len(matching))
        end = min(start + max_results, len(matching))
        answer: dict[str, Any] = {"Findings": matching[start:end]}
        if end < len(matching):
            answer["NextToken"] = str(end)
        return answer

    def reset(self) -> None:
        with self._lock:
            self._findings.clear()

    def _require_enabled(self, account: str, region: str) -> None:
        if not self._is_enabled(account, region):
            # "Before you can successfully invoke the BatchImportFindings API operation, you must enable Security
            # Hub" (user guide, custom product integrations). "Account <id> is not subscribed to AWS Security Hub"
            # is what real accounts get from DescribeHub and GetEnabledStandards (quoted in public CLI transcripts;
            # gruntwork-io/cloud-nuke matches on it); assumption: the findings operations answer the same.
            raise RequestError("InvalidAccessException", f"Account {account} is not subscribed to AWS Security Hub")


def _authorize(finding: object, account: str, region: str) -> None:
    """Refuse the whole request when a finding is not the caller's own: with the default product ARN, "the identifier
    of the account that you are calling BatchImportFindings from needs to be the same as the AwsAccountId attribute
    for the finding" (BatchImportFindings doc).

    Real AWS answers such a request with AccessDeniedException (HTTP 403 in the model), "User: <principal> is not
    authorized to perform: securityhub:BatchImportFindings on resource: <ProductArn>", for a finding of another
    account (github.com/prowler-cloud/prowler/issues/867, confirmed there by AWS Support), a product ARN of another
    region (prowler-cloud/prowler/issues/618) or a malformed product ARN (cloud-custodian/cloud-custodian/issues/
    6091). Assumptions: one such finding fails the whole batch, and these checks come before the check that Security
    Hub is enabled. A finding without these members, or with a malformed account ID, is left to ``_check``
    (InvalidInput).
    """
    if not isinstance(finding, dict):
        return
    expected = default_product_arn(account, region)
    product = finding.get("ProductArn")
    owner = finding.get("AwsAccountId")
    reason = None
    if isinstance(product, str) and product != expected:
        reason = f"only this account's default product {expected} imports findings here"
    elif isinstance(owner, str) and _ACCOUNT_ID.match(owner) and owner != account:
        reason = f"the finding's AwsAccountId {owner} is not the calling account {account}"
    if reason is not None:
        resource = product if isinstance(product, str) else expected
        raise RequestError(
            "AccessDeniedException",
            f"User in account {account} is not authorized to perform: securityhub:BatchImportFindings on resource: "
            f"{resource} (localaws: {reason})",
        )


def _check(finding: object) -> None:
    """Raise Rejected unless the finding is one Security Hub imports."""
    if not isinstance(finding, dict):
        raise Rejected("InvalidInput", f"{_NOT_ASFF} data should be object")
    size = len(json.dumps(finding, separators=(",", ":")).encode())
    if size > MAX_FINDING_BYTES:
        # The code and message are those of BatchUpdateFindingsUnprocessedFinding ("FindingSizeExceeded - The
        # finding size was greater than the permissible value of 240 KB"); assumption: BatchImportFindings, which
        # documents none, uses them too.
        raise Rejected("FindingSizeExceeded", f"Finding size exceeded 240 KB ({size} bytes)")
    for name in (*_REQUIRED_STRINGS, "Resources"):
        if name not in finding:
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data should have required property '{name}'")
    for name, longest in _REQUIRED_STRINGS.items():
        value = finding[name]
        if not isinstance(value, str) or not value.strip():  # NonEmptyString: pattern .*\S.*
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data.{name} should be a non-empty string")
        if longest is not None and len(value) > longest:
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data.{name} should NOT be longer than {longest} characters")
    if not _ACCOUNT_ID.match(finding["AwsAccountId"]):
        raise Rejected("InvalidInput", f"{_NOT_ASFF} data.AwsAccountId should be a 12-digit account ID")
    if finding["SchemaVersion"] != SCHEMA_VERSION:
        raise Rejected("InvalidInput", f"{_NOT_ASFF} data.SchemaVersion should be {SCHEMA_VERSION}")
    for name in ("CreatedAt", "UpdatedAt"):
        _timestamp(finding[name], name)
    _check_resources(finding.get("Resources"))
    _check_severity(finding)
    _check_types(finding)
    for path, allowed in _ENUMS.items():
        value = _at(finding, path)
        if value is not None and value not in allowed:
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data.{'.'.join(path)} should be one of {', '.join(allowed)}")


def _check_resources(resources: object) -> None:
    if not isinstance(resources, list) or not 1 <= len(resources) <= _MAX_RESOURCES:
        raise Rejected("InvalidInput", f"{_NOT_ASFF} data.Resources should have 1 to {_MAX_RESOURCES} items")
    for index, resource in enumerate(resources):
        # Resource: required Type and Id.
        for name in ("Type", "Id"):
            value = resource.get(name) if isinstance(resource, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise Rejected(
                    "InvalidInput", f"{_NOT_ASFF} data.Resources[{index}] should have required property '{name}'"
                )


def _check_severity(finding: Mapping[str, Any]) -> None:
    """Severity is a required attribute (user guide, Required attributes: "the finding must have either the Label or
    Normalized field populated ... If neither attribute is populated, then the finding is not valid"), and providers
    give it in FindingProviderFields (same page). Assumption: either place satisfies the requirement, as the schema
    error "data should have required property 'FindingProviderFields', data should match some schema in anyOf"
    suggests."""
    given = [
        (path, severity)
        for path, severity in (
            ("Severity", finding.get("Severity")),
            ("FindingProviderFields.Severity", _provided(finding, "Severity")),
        )
        if severity is not None
    ]
    if not given:
        raise Rejected(
            "InvalidInput",
            f"{_NOT_ASFF} data should have required property 'Severity' or 'FindingProviderFields.Severity'",
        )
    for path, severity in given:
        label = severity.get("Label") if isinstance(severity, dict) else None
        normalized = severity.get("Normalized") if isinstance(severity, dict) else None
        if label is None and normalized is None:
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data.{path} should have Label or Normalized")
        if label is not None and label not in _SEVERITY_LABELS:
            raise Rejected(
                "InvalidInput", f"{_NOT_ASFF} data.{path}.Label should be one of {', '.join(_SEVERITY_LABELS)}"
            )
        if normalized is not None and (
            isinstance(normalized, bool) or not isinstance(normalized, int) or not 0 <= normalized <= 100
        ):
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data.{path}.Normalized should be an integer from 0 to 100")


def _check_types(finding: Mapping[str, Any]) -> None:
    """Types is a required attribute (user guide, Required attributes), which providers give in FindingProviderFields
    (same page). Assumption: either place satisfies it, as for Severity."""
    given = [types for types in (finding.get("Types"), _provided(finding, "Types")) if types is not None]
    if not given:
        raise Rejected(
            "InvalidInput", f"{_NOT_ASFF} data should have required property 'Types' or 'FindingProviderFields.Types'"
        )
    for types in given:
        if (
            not isinstance(types, list)
            or not 1 <= len(types) <= _MAX_TYPES
            or not all(isinstance(t, str) and t.strip() for t in types)
        ):
            raise Rejected("InvalidInput", f"{_NOT_ASFF} data.Types should be 1 to {_MAX_TYPES} non-empty strings")


def created(finding: Finding, region: str) -> Finding:
    """A new finding as Security Hub stores it."""
    document = copy.deepcopy(finding)
    _populate(document, None, region)
    # "NEW - The initial state of a finding, before it is reviewed" (WorkflowStatus); assumption: RecordState starts
    # ACTIVE when the provider leaves it out.
    document.setdefault("Workflow", {"Status": "NEW"})
    document.setdefault("RecordState", "ACTIVE")
    _apply_provider_fields(document, finding, None)
    return document


def updated(previous: Finding, finding: Finding, region: str) -> Finding:
    """``previous`` updated by a newer import of the same finding.

    The import replaces the finding ("Resend the full finding with the appropriate information updated", user guide,
    custom product integrations) except for: the attributes providers cannot update after creation
    (``KEPT_AFTER_CREATE``), the ones Security Hub populates, and ``FindingProviderFields`` with its top-level
    analogues (``_apply_provider_fields``). Assumption: a RecordState left out keeps its value.
    """
    document = copy.deepcopy(finding)
    for name in KEPT_AFTER_CREATE:
        document.pop(name, None)
        if name in previous:
            document[name] = copy.deepcopy(previous[name])
    _populate(document, previous, region)
    document.setdefault("RecordState", previous.get("RecordState", "ACTIVE"))
    _apply_provider_fields(document, finding, previous)
    _reopen(document, previous)
    return document


def _populate(document: Finding, previous: Finding | None, region: str) -> None:
    """The attributes Security Hub sets: Region ("Security Hub CSPM populates this attribute automatically ... You
    cannot update it using BatchImportFindings"), and ProductName/CompanyName, which a custom integration may set
    (AwsSecurityFinding members) and otherwise get the "default name" and "personal name" (user guide, custom
    product integrations: "Your specified names replace the preconfigured company name and product name, called
    personal name and default name respectively")."""
    document["Region"] = region
    for name, default in (("ProductName", "Default"), ("CompanyName", "Personal")):
        document.setdefault(name, previous.get(name, default) if previous is not None else default)


def _apply_provider_fields(document: Finding, finding: Mapping[str, Any], previous: Finding | None) -> None:
    """FindingProviderFields and the top-level attributes of the same names, as the user guide ("Using
    FindingProviderFields") says Security Hub handles a BatchImportFindings request:

    - only in FindingProviderFields (the preferred form): it updates FindingProviderFields and is replicated to the
      top-level attribute;
    - only top-level: it updates FindingProviderFields (overwriting) and the top-level attribute;
    - in both: a new finding takes the FindingProviderFields value for both; an existing one takes each value for
      its own place.

    The top-level attribute is not replicated to "if the attribute was already updated by BatchUpdateFindings";
    localaws does not serve BatchUpdateFindings, so that never applies. Assumption: an attribute left out of both
    places keeps its values. Severity gets its missing Label or Normalized filled in (``_complete_severity``).
    """
    provided = finding.get("FindingProviderFields")
    provided = provided if isinstance(provided, dict) else {}
    kept = previous.get("FindingProviderFields", {}) if previous is not None else {}
    provider: Finding = {}
    for name in PROVIDER_ATTRIBUTES:
        top, mine = finding.get(name), provided.get(name)
        if mine is not None:
            provider[name] = mine
            document[name] = top if previous is not None and top is not None else mine
        elif top is not None:
            provider[name] = top
            document[name] = top
        elif name in kept:
            provider[name] = kept[name]
            document[name] = previous[name] if previous is not None and name in previous else kept[name]
        else:
            continue
        provider[name] = copy.deepcopy(provider[name])
        document[name] = copy.deepcopy(document[name])
    if "Severity" in provider:
        provider["Severity"] = _complete_severity(provider["Severity"])
        document["Severity"] = _complete_severity(document["Severity"])
    if provider:
        document["FindingProviderFields"] = provider
    else:
        document.pop("FindingProviderFields", None)


def _complete_severity(severity: Mapping[str, Any]) -> dict[str, Any]:
    """ "If only one of these attributes is populated, then Security Hub CSPM automatically populates the other one"
    (Severity), with the mapping the Severity members document."""
    complete = dict(severity)
    label, normalized = complete.get("Label"), complete.get("Normalized")
    if label is None and isinstance(normalized, int):
        complete["Label"] = _label_of(normalized)
    elif normalized is None and label in _NORMALIZED_OF_LABEL:
        complete["Normalized"] = _NORMALIZED_OF_LABEL[label]
    return complete


def _label_of(normalized: int) -> str:
    # Severity.Label: "0 - INFORMATIONAL, 1–39 - LOW, 40–69 - MEDIUM, 70–89 - HIGH, 90–100 - CRITICAL".
    for floor, label in ((90, "CRITICAL"), (70, "HIGH"), (40, "MEDIUM"), (1, "LOW")):
        if normalized >= floor:
            return label
    return "INFORMATIONAL"


def _reopen(document: Finding, previous: Finding) -> None:
    """ "Security Hub CSPM also resets the workflow status from NOTIFIED or RESOLVED to NEW in the following cases:
    RecordState changes from ARCHIVED to ACTIVE. ComplianceStatus changes from PASSED to either WARNING, FAILED, or
    NOT_AVAILABLE." (WorkflowStatus)."""
    workflow = document.get("Workflow")
    if not isinstance(workflow, dict) or workflow.get("Status") not in ("NOTIFIED", "RESOLVED"):
        return
    unarchived = previous.get("RecordState") == "ARCHIVED" and document.get("RecordState") == "ACTIVE"
    was_passed = _at(previous, ("Compliance", "Status")) == "PASSED"
    now_failing = _at(document, ("Compliance", "Status")) in ("WARNING", "FAILED", "NOT_AVAILABLE")
    if unarchived or (was_passed and now_failing):
        workflow["Status"] = "NEW"


@dataclass(frozen=True)
class FieldFilter:
    """The StringFilters of one AwsSecurityFindingFilters field: its EQUALS/PREFIX/CONTAINS filters OR'ed, then its
    NOT_EQUALS/PREFIX_NOT_EQUALS/NOT_CONTAINS filters AND'ed ("Security Hub CSPM first processes the PREFIX filters,
    and then the NOT_EQUALS or PREFIX_NOT_EQUALS filters", StringFilter.Comparison)."""

    field: str
    positive: tuple[tuple[str, str], ...]
    negative: tuple[tuple[str, str], ...]

    def matches(self, finding: Mapping[str, Any]) -> bool:
        values = _values(finding, STRING_FILTER_FIELDS[self.field])
        if self.positive and not any(_hits(v, c, x) for v in values for c, x in self.positive):
            return False
        # Assumption: a finding without the attribute passes the negative filters (it has no value to exclude).
        return not any(_hits(v, c, x) for v in values for c, x in self.negative)


def parse_filters(filters: object) -> list[FieldFilter]:
    """GetFindings' ``Filters``, one FieldFilter per field (several fields are AND'ed), or RequestError."""
    if filters is None:
        return []
    if not isinstance(filters, dict):
        raise RequestError("InvalidInputException", "Filters must be an object")
    if len(filters) > _MAX_FILTER_FIELDS:
        raise RequestError("InvalidInputException", f"You can filter by up to {_MAX_FILTER_FIELDS} finding attributes")
    parsed = []
    for field, conditions in filters.items():
        if field not in STRING_FILTER_FIELDS:
            raise RequestError(
                "InvalidInputException",
                f"localaws filters findings only by {', '.join(STRING_FILTER_FIELDS)}; not by {field!r}",
            )
        parsed.append(_field_filter(field, conditions))
    return parsed


def _field_filter(field: str, conditions: object) -> FieldFilter:
    if not isinstance(conditions, list) or not 1 <= len(conditions) <= _MAX_FILTER_VALUES:
        raise RequestError("InvalidInputException", f"{field} takes 1 to {_MAX_FILTER_VALUES} filter values")
    pairs = []
    for condition in conditions:
        value = condition.get("Value") if isinstance(condition, dict) else None
        comparison = condition.get("Comparison") if isinstance(condition, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise RequestError("InvalidInputException", f"{field}: each filter needs a non-empty Value")
        if comparison == "CONTAINS_WORD":
            raise RequestError("InvalidInputException", "CONTAINS_WORD works only in the V2 APIs, not in GetFindings")
        if comparison not in _POSITIVE | _NEGATIVE:
            # Assumption: Comparison is needed (the model marks neither StringFilter member required).
            raise RequestError(
                "InvalidInputException", f"{field}: Comparison {comparison!r} is not a StringFilter comparison"
            )
        pairs.append((str(comparison), value))
    comparisons = {comparison for comparison, _ in pairs}
    # "You can’t have both a CONTAINS filter and a NOT_CONTAINS filter on the same field. Similarly, you can't provide
    # both an EQUALS filter and a NOT_EQUALS or PREFIX_NOT_EQUALS filter on the same field. Combining filters in this
    # way returns an error. CONTAINS filters can only be used with other CONTAINS filters. NOT_CONTAINS filters can
    # only be used with other NOT_CONTAINS filters." (StringFilter.Comparison)
    for alone in ("CONTAINS", "NOT_CONTAINS"):
        if alone in comparisons and comparisons != {alone}:
            raise RequestError(
                "InvalidInputException", f"{field}: {alone} filters can only be used with other {alone} filters"
            )
    if "EQUALS" in comparisons and comparisons & {"NOT_EQUALS", "PREFIX_NOT_EQUALS"}:
        raise RequestError(
            "InvalidInputException",
            f"{field}: an EQUALS filter cannot be combined with NOT_EQUALS or PREFIX_NOT_EQUALS",
        )
    return FieldFilter(
        field,
        positive=tuple(p for p in pairs if p[0] in _POSITIVE),
        negative=tuple(p for p in pairs if p[0] in _NEGATIVE),
    )


def _hits(value: str, comparison: str, wanted: str) -> bool:
    """Whether ``value`` has the property the comparison tests (before negation). "Filter values are case
    sensitive" (StringFilter.Value)."""
    if comparison in ("EQUALS", "NOT_EQUALS"):
        return value == wanted
    if comparison in ("PREFIX", "PREFIX_NOT_EQUALS"):
        return value.startswith(wanted)
    return wanted in value


def _values(document: Mapping[str, Any], path: tuple[str, ...]) -> list[str]:
    """The string values at ``path``; a list on the way contributes each of its items."""
    nodes: list[Any] = [document]
    for key in path:
        found: list[Any] = []
        for node in nodes:
            value = node.get(key) if isinstance(node, dict) else None
            found.extend(value if isinstance(value, list) else [] if value is None else [value])
        nodes = found
    return [node for node in nodes if isinstance(node, str)]


def _at(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` (through objects only), or None."""
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _provided(finding: Mapping[str, Any], name: str) -> Any:
    provided = finding.get("FindingProviderFields")
    return provided.get(name) if isinstance(provided, dict) else None


def _timestamp(value: object, name: str = "UpdatedAt") -> datetime:
    """A finding timestamp. Assumption: any ISO 8601 date-time Python reads; one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise Rejected("InvalidInput", f"{_NOT_ASFF} data.{name} should be an ISO 8601 date-time, got {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _offset(token: object, size: int) -> int:
    if token is None or token == "":
        return 0
    if not isinstance(token, str) or not token.isdigit() or int(token) > size:
        raise RequestError("InvalidInputException", "The NextToken is not valid")
    return int(token)


def _id_of(finding: object) -> str:
    identifier = finding.get("Id") if isinstance(finding, dict) else None
    return identifier if isinstance(identifier, str) else ""
