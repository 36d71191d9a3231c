"""localaws's Security Hub CSPM findings (BatchImportFindings / GetFindings), driven with real boto3 clients: only
where Security Hub is enabled, only the caller's own findings, schema checks per finding, the fields a provider
cannot update, FindingProviderFields, filters and pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import CENTRAL, MEMBER, MEMBER_REGION, World
from tests.helpers import NO_RETRIES, UNCHECKED, error_of

if TYPE_CHECKING:
    from mypy_boto3_securityhub import SecurityHubClient

PRODUCT = f"arn:aws:securityhub:{MEMBER_REGION}:{MEMBER}:product/{MEMBER}/default"
REQUIRED = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "CreatedAt",
    "UpdatedAt",
    "Title",
    "Description",
    "Resources",
)


def finding(
    finding_id: str = "xray-guard/222222222222/eu-west-1/xray",
    *,
    account: str = MEMBER,
    region: str = MEMBER_REGION,
    updated: str = "2025-01-01T00:00:00Z",
    **members: Any,
) -> dict[str, Any]:
    """A valid ASFF finding of the account's default product; ``members`` add or replace top-level members (None
    removes one)."""
    document: dict[str, Any] = {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": "xray-guard/encryption",
        "AwsAccountId": account,
        "CreatedAt": "2025-01-01T00:00:00Z",
        "UpdatedAt": updated,
        "Title": "X-Ray traces are not encrypted with the approved key",
        "Description": "X-Ray encryption uses the AWS owned key.",
        "Resources": [{"Type": "Other", "Id": f"arn:aws:xray:{region}:{account}:encryption-config"}],
        "FindingProviderFields": {
            "Severity": {"Label": "HIGH"},
            "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        },
        "Compliance": {"Status": "FAILED"},
    }
    document.update(members)
    return {name: value for name, value in document.items() if value is not None}


class Hubs:
    """Security Hub clients of one test (the world keeps one per account, region and config), and what the tests ask
    of them."""

    def __init__(self, world: World) -> None:
        self.world = world

    def client(self, account: str = MEMBER, region: str = MEMBER_REGION, *, checked: bool = True) -> SecurityHubClient:
        config = NO_RETRIES if checked else UNCHECKED  # malformed findings must reach localaws
        client: SecurityHubClient = self.world.client("securityhub", account, region, config=config)
        return client

    def enable(self, account: str = MEMBER, region: str = MEMBER_REGION) -> None:
        """As ``World.enable_security_hub``, through this test's client."""
        self.client(account, region).enable_security_hub(EnableDefaultStandards=False)

    def imported(self, *findings: dict[str, Any], checked: bool = True) -> dict[str, Any]:
        return dict(self.client(checked=checked).batch_import_findings(Findings=findings))  # type: ignore[arg-type]

    def stored(self, finding_id: str) -> dict[str, Any]:
        found = self.client().get_findings(Filters={"Id": [{"Value": finding_id, "Comparison": "EQUALS"}]})["Findings"]
        assert len(found) == 1, found
        return dict(found[0])

    def ids(self, filters: dict[str, Any], account: str = MEMBER, region: str = MEMBER_REGION) -> set[str]:
        found = self.client(account, region).get_findings(Filters=filters)["Findings"]  # type: ignore[arg-type]
        return {f["Id"] for f in found}


@pytest.fixture
def sh(world: World) -> Hubs:
    return Hubs(world)


# --- enabled or not ---------------------------------------------------------------------------------------------


def test_not_enabled_answers_invalid_access_for_both_operations(sh: Hubs) -> None:
    for call in (lambda: sh.imported(finding()), sh.client().get_findings):
        code, message, status = error_of(call)
        assert (code, status) == ("InvalidAccessException", 401)
        assert message == f"Account {MEMBER} is not subscribed to AWS Security Hub"


def test_enabled_per_account_and_region_and_disable_turns_it_off(sh: Hubs) -> None:
    sh.world.enable_security_hub(MEMBER, MEMBER_REGION)
    assert sh.imported(finding())["SuccessCount"] == 1
    # moto still serves the hub itself.
    assert sh.client().describe_hub()["HubArn"] == f"arn:aws:securityhub:{MEMBER_REGION}:{MEMBER}:hub/default"
    for account, region in ((MEMBER, "us-east-1"), (CENTRAL, MEMBER_REGION)):
        assert error_of(sh.client(account, region).get_findings)[0] == "InvalidAccessException"
    sh.client().disable_security_hub()
    assert error_of(sh.client().get_findings)[0] == "InvalidAccessException"


def test_reset_disables_security_hub_and_forgets_findings(sh: Hubs) -> None:
    sh.world.enable_security_hub()
    sh.imported(finding())
    sh.world.reset()  # the emulator, and the world's member credentials with it
    assert error_of(sh.client().get_findings)[0] == "InvalidAccessException"
    sh.world.enable_security_hub()
    assert sh.client().get_findings()["Findings"] == []


# --- whose findings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "resource"),
    [
        ({"AwsAccountId": CENTRAL}, PRODUCT),
        (
            {"ProductArn": f"arn:aws:securityhub:{MEMBER_REGION}:{CENTRAL}:product/{CENTRAL}/default"},
            f"arn:aws:securityhub:{MEMBER_REGION}:{CENTRAL}:product/{CENTRAL}/default",
        ),
        (
            {"ProductArn": f"arn:aws:securityhub:us-east-1:{MEMBER}:product/{MEMBER}/default"},
            f"arn:aws:securityhub:us-east-1:{MEMBER}:product/{MEMBER}/default",
        ),
        ({"ProductArn": "arn:aws:securityhub:eu-west-1::product/cloud-custodian/cloud-custodian"}, None),
    ],
    ids=["other-account-finding", "other-account-product", "other-region-product", "partner-product"],
)
def test_only_the_callers_own_findings_import(sh: Hubs, change: dict[str, str], resource: str | None) -> None:
    sh.enable()
    good, bad = finding("good"), finding("bad", **change)
    code, message, status = error_of(lambda: sh.imported(good, bad))
    assert (code, status) == ("AccessDeniedException", 403)
    expected_resource = resource or change["ProductArn"]
    assert f"not authorized to perform: securityhub:BatchImportFindings on resource: {expected_resource}" in message
    # The whole request is refused: the good finding did not import either.
    assert sh.client().get_findings()["Findings"] == []


def test_a_member_finding_imported_in_the_member_is_not_seen_from_the_central_account(sh: Hubs) -> None:
    sh.enable(MEMBER, MEMBER_REGION)
    sh.enable(CENTRAL, MEMBER_REGION)
    sh.imported(finding("member"))
    assert sh.ids({}, MEMBER) == {"member"}
    assert sh.ids({}, CENTRAL) == set()


# --- per-finding checks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("member", REQUIRED)
def test_a_finding_without_a_required_member_fails_alone(sh: Hubs, member: str) -> None:
    sh.enable()
    broken = finding("broken")
    del broken[member]
    answer = sh.imported(finding("fine"), broken, checked=False)
    assert (answer["SuccessCount"], answer["FailedCount"]) == (1, 1)
    [failure] = answer["FailedFindings"]
    assert failure["Id"] == ("" if member == "Id" else "broken")
    assert failure["ErrorCode"] == "InvalidInput"
    assert f"required property '{member}'" in failure["ErrorMessage"]
    assert sh.ids({}) == {"fine"}


@pytest.mark.parametrize(
    "change",
    [
        {"Resources": []},
        {"Resources": [{"Type": "Other"}]},
        {"Title": "   "},
        {"Title": "t" * 257},
        {"Description": "d" * 1025},
        {"AwsAccountId": "2222"},
        {"SchemaVersion": "2019-01-01"},
        {"UpdatedAt": "yesterday"},
        {"FindingProviderFields": {"Types": ["Software and Configuration Checks"]}},
        {"FindingProviderFields": {"Severity": {"Label": "HIGH"}}},
        {"FindingProviderFields": {"Severity": {"Original": "7"}, "Types": ["Effects"]}},
        {"Severity": {"Label": "SEVERE"}},
        {"Severity": {"Normalized": 101}},
        {"RecordState": "DELETED"},
        {"Compliance": {"Status": "OK"}},
    ],
    ids=lambda change: ",".join(f"{k}={str(v)[:24]}" for k, v in change.items()),
)
def test_a_finding_that_breaks_the_format_fails_with_invalid_input(sh: Hubs, change: dict[str, Any]) -> None:
    sh.enable()
    answer = sh.imported(finding("broken", **change), checked=False)
    assert answer["FailedCount"] == 1
    assert answer["FailedFindings"][0]["ErrorCode"] == "InvalidInput"
    assert answer["FailedFindings"][0]["ErrorMessage"].startswith("Finding does not adhere to Amazon Finding Format.")
    assert sh.ids({}) == set()


def test_a_finding_over_240_kb_fails_alone(sh: Hubs) -> None:
    sh.enable()
    details = {"Other": {f"key{n}": "v" * 1000 for n in range(10)}}
    resources = [{"Type": "Other", "Id": f"resource-{n}", "Details": details} for n in range(32)]
    answer = sh.imported(finding("large", Resources=resources), finding("small"))
    assert (answer["SuccessCount"], answer["FailedCount"]) == (1, 1)
    assert answer["FailedFindings"][0]["Id"] == "large"
    assert answer["FailedFindings"][0]["ErrorCode"] == "FindingSizeExceeded"
    assert sh.ids({}) == {"small"}


def test_a_batch_of_more_than_100_findings_is_refused(sh: Hubs) -> None:
    sh.enable()
    batch = [finding(f"f{n}") for n in range(101)]
    code, _, status = error_of(lambda: sh.imported(*batch))
    assert (code, status) == ("InvalidInputException", 400)


# --- create and update -----------------------------------------------------------------------------------------


def test_security_hub_fills_in_what_it_populates(sh: Hubs) -> None:
    sh.enable()
    sh.imported(finding("f", Region="us-west-2"))
    document = sh.stored("f")
    assert document["Region"] == MEMBER_REGION
    assert (document["ProductName"], document["CompanyName"]) == ("Default", "Personal")
    assert document["RecordState"] == "ACTIVE"
    assert document["Workflow"] == {"Status": "NEW"}
    # Severity from FindingProviderFields, replicated to the top level with Normalized filled in.
    assert document["Severity"] == {"Label": "HIGH", "Normalized": 70}
    assert document["Types"] == ["Software and Configuration Checks/AWS Security Best Practices"]


def test_top_level_severity_alone_is_copied_into_finding_provider_fields(sh: Hubs) -> None:
    sh.enable()
    legacy = finding("legacy", Severity={"Normalized": 40}, Types=["Effects"])
    del legacy["FindingProviderFields"]
    sh.imported(legacy)
    document = sh.stored("legacy")
    assert document["Severity"] == {"Normalized": 40, "Label": "MEDIUM"}
    assert document["FindingProviderFields"]["Severity"]["Label"] == "MEDIUM"
    assert document["FindingProviderFields"]["Types"] == ["Effects"]


def test_a_new_finding_with_both_forms_takes_finding_provider_fields_for_both(sh: Hubs) -> None:
    sh.enable()
    sh.imported(finding("both", Severity={"Label": "LOW"}, Types=["TTPs"]))
    document = sh.stored("both")
    assert document["Severity"]["Label"] == "HIGH"
    assert document["Types"] == ["Software and Configuration Checks/AWS Security Best Practices"]


def test_reimport_updates_the_finding_but_not_the_fields_customers_own(sh: Hubs) -> None:
    sh.enable()
    first = finding(
        "f",
        Note={"Text": "looking", "UpdatedBy": "alice", "UpdatedAt": "2025-01-01T00:00:00Z"},
        UserDefinedFields={"ticket": "SEC-1"},
        VerificationState="TRUE_POSITIVE",
        Workflow={"Status": "NOTIFIED"},
    )
    sh.imported(first)
    later = finding(
        "f",
        updated="2025-01-02T00:00:00Z",
        Title="Still not encrypted",
        Note={"Text": "overwritten", "UpdatedBy": "provider", "UpdatedAt": "2025-01-02T00:00:00Z"},
        UserDefinedFields={"ticket": "overwritten"},
        VerificationState="FALSE_POSITIVE",
        Workflow={"Status": "SUPPRESSED"},
        FindingProviderFields={"Severity": {"Label": "CRITICAL"}, "Types": ["Effects/Data Exposure"]},
    )
    assert sh.imported(later)["SuccessCount"] == 1
    document = sh.stored("f")
    assert document["Title"] == "Still not encrypted"
    assert document["UpdatedAt"] == "2025-01-02T00:00:00Z"
    for name in ("Note", "UserDefinedFields", "VerificationState", "Workflow"):
        assert document[name] == first[name], name
    # Only FindingProviderFields changed: it is replicated to the top level (no BatchUpdateFindings happened).
    assert document["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"
    assert document["Severity"]["Label"] == "CRITICAL"
    assert document["Types"] == ["Effects/Data Exposure"]


def test_reimport_with_both_forms_keeps_each_value_in_its_place(sh: Hubs) -> None:
    sh.enable()
    sh.imported(finding("f"))
    sh.imported(
        finding(
            "f",
            updated="2025-01-02T00:00:00Z",
            Severity={"Label": "LOW"},
            FindingProviderFields={"Severity": {"Label": "CRITICAL"}, "Types": ["Effects"]},
        ),
    )
    document = sh.stored("f")
    assert document["Severity"]["Label"] == "LOW"
    assert document["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"


@pytest.mark.parametrize("updated", ["2025-01-01T00:00:00Z", "2024-12-31T23:59:59.999Z"])
def test_an_update_that_is_not_newer_is_ignored(sh: Hubs, updated: str) -> None:
    sh.enable()
    sh.imported(finding("f"))
    answer = sh.imported(finding("f", updated=updated, Title="stale"))
    assert (answer["SuccessCount"], answer["FailedCount"]) == (1, 0)
    assert sh.stored("f")["Title"] == finding()["Title"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"Compliance": {"Status": "PASSED"}}, {"Compliance": {"Status": "FAILED"}}),
        ({"RecordState": "ARCHIVED"}, {"RecordState": "ACTIVE"}),
    ],
    ids=["passed-to-failed", "archived-to-active"],
)
def test_a_resolved_finding_that_comes_back_is_new_again(
    sh: Hubs, before: dict[str, Any], after: dict[str, Any]
) -> None:
    sh.enable()
    sh.imported(finding("f", Workflow={"Status": "RESOLVED"}, **before))
    sh.imported(finding("f", updated="2025-01-02T00:00:00Z", **after))
    assert sh.stored("f")["Workflow"] == {"Status": "NEW"}


def test_a_resolved_finding_that_stays_fixed_stays_resolved(sh: Hubs) -> None:
    sh.enable()
    passed: dict[str, Any] = {"Compliance": {"Status": "PASSED"}, "RecordState": "ARCHIVED"}
    sh.imported(finding("f", Workflow={"Status": "RESOLVED"}, **passed))
    sh.imported(finding("f", updated="2025-01-02T00:00:00Z", **passed))
    assert sh.stored("f")["Workflow"] == {"Status": "RESOLVED"}


# --- GetFindings filters and pages ------------------------------------------------------------------------------


@pytest.fixture
def three(sh: Hubs) -> Hubs:
    """Three findings: a (FAILED, ACTIVE), b (PASSED, ARCHIVED), c (no compliance, ACTIVE, other generator)."""
    sh.enable()
    sh.imported(
        finding("xray/a"),
        finding("xray/b", Compliance={"Status": "PASSED"}, RecordState="ARCHIVED"),
        finding("spans/c", GeneratorId="other/spans", Compliance=None),
    )
    return sh


def eq(*values: str, comparison: str = "EQUALS") -> list[dict[str, str]]:
    return [{"Value": value, "Comparison": comparison} for value in values]


FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"Id": eq("xray/a")}, {"xray/a"}),
    ({"Id": eq("xray/a", "spans/c")}, {"xray/a", "spans/c"}),  # EQUALS values are OR'ed
    ({"Id": eq("xray/", comparison="PREFIX")}, {"xray/a", "xray/b"}),
    ({"Id": eq("xray/a", "xray/b", comparison="NOT_EQUALS")}, {"spans/c"}),  # NOT_EQUALS values are AND'ed
    ({"Id": [*eq("xray/", comparison="PREFIX"), *eq("xray/b", comparison="NOT_EQUALS")]}, {"xray/a"}),
    ({"AwsAccountId": eq(MEMBER)}, {"xray/a", "xray/b", "spans/c"}),
    ({"AwsAccountId": eq(CENTRAL)}, set()),
    ({"RecordState": eq("ACTIVE")}, {"xray/a", "spans/c"}),
    ({"ComplianceStatus": eq("FAILED", "PASSED")}, {"xray/a", "xray/b"}),
    ({"ComplianceStatus": eq("PASSED", comparison="NOT_EQUALS")}, {"xray/a", "spans/c"}),
    ({"GeneratorId": eq("xray-guard/", comparison="PREFIX")}, {"xray/a", "xray/b"}),
    ({"GeneratorId": eq("xray-guard", comparison="PREFIX_NOT_EQUALS")}, {"spans/c"}),
    ({"Title": eq("not encrypted", comparison="CONTAINS")}, {"xray/a", "xray/b", "spans/c"}),
    ({"RecordState": eq("ACTIVE"), "ComplianceStatus": eq("FAILED")}, {"xray/a"}),  # fields are AND'ed
    ({"RecordState": eq("ACTIVE"), "GeneratorId": eq("other/", comparison="PREFIX")}, {"spans/c"}),
    (
        {"SeverityLabel": eq("HIGH"), "Type": eq("Software and Configuration Checks", comparison="PREFIX")},
        {
            "xray/a",
            "xray/b",
            "spans/c",
        },
    ),
    ({"Id": eq("xray/A")}, set()),  # case sensitive
]


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES, ids=[str(n) for n in range(len(FILTER_CASES))])
def test_filters(three: Hubs, filters: dict[str, Any], expected: set[str]) -> None:
    assert three.ids(filters) == expected


@pytest.mark.parametrize(
    "filters",
    [
        {"Id": [*eq("xray/a"), *eq("xray/b", comparison="NOT_EQUALS")]},
        {"Id": [*eq("xray", comparison="CONTAINS"), *eq("xray/a")]},
        {"Id": eq("xray", comparison="CONTAINS_WORD")},
        {"Confidence": [{"Gte": 1}]},
        {"Id": eq(*(f"id{n}" for n in range(21)))},
    ],
    ids=["equals-with-not-equals", "contains-with-equals", "contains-word", "unsupported-field", "21-values"],
)
def test_filters_that_cannot_be_combined_are_refused(three: Hubs, filters: dict[str, Any]) -> None:
    client = three.client(checked=False)
    code, message, status = error_of(lambda: client.get_findings(Filters=filters))  # type: ignore[arg-type]
    assert (code, status) == ("InvalidInputException", 400), message


def test_pages_follow_next_token(sh: Hubs) -> None:
    sh.enable()
    sh.imported(*(finding(f"f{n:02}") for n in range(7)))
    pages = sh.client().get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 3})
    sizes_and_ids = [(len(page["Findings"]), [f["Id"] for f in page["Findings"]]) for page in pages]
    assert [size for size, _ in sizes_and_ids] == [3, 3, 1]
    assert [i for _, page_ids in sizes_and_ids for i in page_ids] == [f"f{n:02}" for n in range(7)]


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.get_findings(MaxResults=101),
        lambda client: client.get_findings(MaxResults=0),
        lambda client: client.get_findings(NextToken="not-a-token"),
    ],
    ids=["max-101", "max-0", "bad-token"],
)
def test_bad_paging_is_refused(sh: Hubs, call: Callable[[Any], object]) -> None:
    sh.enable()
    client = sh.client(checked=False)
    code, _, status = error_of(lambda: call(client))
    assert (code, status) == ("InvalidInputException", 400)
