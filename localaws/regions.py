"""Which AWS Regions each account may use, as a real account reports them: ``account:ListRegions``,
``GetRegionOptStatus``, ``EnableRegion`` and ``DisableRegion`` (moto 5.2.5 routes only the alternate-contact
operations of Account Management, moto/account/urls.py) and ``ec2:DescribeRegions`` (moto's lists the opt-in Regions
"not-opted-in" whatever the account did, and the aws-cn and aws-us-gov Regions to an account of partition aws).

The truth emulated, from the AWS Account Management guide, "Enable or disable AWS Regions in your account"
(https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html): "Regions launched before March 20,
2019 are enabled by default ... Default Regions cannot be enabled or disabled"; "Regions launched after March 20, 2019
are disabled by default" and are opted into per account. And from "AWS Regions"
(https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html): "You can't describe or access the
Regions of one type of account from another", so an account sees the Regions of its own partition only (the
partition of the endpoint it calls, localaws.protocol.partition_of).

Wire contracts: botocore data/account/2021-02-01/service-2.json (rest-json: ``POST /listRegions``,
``/getRegionOptStatus``, ``/enableRegion``, ``/disableRegion``; shape RegionOptStatus: ENABLED | ENABLING | DISABLING
| DISABLED | ENABLED_BY_DEFAULT) and data/ec2/2016-11-15/service-2.json (ec2 protocol, DescribeRegionsRequest /
DescribeRegionsResult / Region: ``regionInfo`` of ``item`` with ``regionName``, ``regionEndpoint``, ``optInStatus``).

Assumptions (not documented, or documented as slow): EnableRegion and DisableRegion take effect at once (AWS says
enabling "takes a few minutes for most accounts, but it can take several hours", EnableRegionRequest.RegionName), so
ENABLING and DISABLING are never reported; enabling an enabled Region or disabling a disabled one succeeds and changes
nothing; every Region of a partition other than aws is a default Region.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from localaws import moto_bridge
from localaws.protocol import (
    AwsRequest,
    error_response,
    error_status,
    json_response,
    partition_of,
    partitions,
    service_model,
)

ACCOUNT_OPERATIONS = frozenset({"ListRegions", "GetRegionOptStatus", "EnableRegion", "DisableRegion"})
EC2_OPERATIONS = frozenset({"DescribeRegions"})

# The 17 Regions of partition aws launched before March 20, 2019: enabled in every account, never opt-in (the Account
# Management guide's list of default Regions, manage-acct-regions.html). Every other Region of the partition is opt-in.
DEFAULT_REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

_MAX_RESULTS = 50  # ListRegionsRequestMaxResultsInteger: min 1, max 50
_ACCOUNT_ID = re.compile(r"\d{12}")  # shape AccountId, pattern \d{12}
_FILTER = re.compile(r"Filter\.(\d+)\.Name")

ManagementOf = Callable[[str], str | None]


class OptStatus(StrEnum):
    """Account Management's RegionOptStatus (the states localaws reaches: no ENABLING or DISABLING, see above)."""

    ENABLED = "ENABLED"
    ENABLING = "ENABLING"
    DISABLING = "DISABLING"
    DISABLED = "DISABLED"
    ENABLED_BY_DEFAULT = "ENABLED_BY_DEFAULT"


# EC2's name for the same state (ec2 model, Region.OptInStatus: "opt-in-not-required, opted-in, and not-opted-in").
# Assumption: a Region still being enabled is not yet opted in, one being disabled no longer is.
_EC2_STATUS = {
    OptStatus.ENABLED_BY_DEFAULT: "opt-in-not-required",
    OptStatus.ENABLED: "opted-in",
    OptStatus.ENABLING: "not-opted-in",
    OptStatus.DISABLING: "not-opted-in",
    OptStatus.DISABLED: "not-opted-in",
}
_USABLE = frozenset({OptStatus.ENABLED_BY_DEFAULT, OptStatus.ENABLED})


def partition_regions(partition: str = "aws") -> tuple[str, ...]:
    """Every Region of a partition (botocore/data/endpoints.json), sorted; empty for an unknown partition."""
    return next((p.regions for p in partitions() if p.name == partition), ())


def ec2_endpoint(region: str) -> str:
    """EC2's endpoint in a Region as DescribeRegions names it ("ec2.us-east-1.amazonaws.com", ec2 model, Filters)."""
    name = partition_of(region)
    return f"ec2.{region}.{next((p.dns_suffix for p in partitions() if p.name == name), 'amazonaws.com')}"


class Rejected(Exception):
    """A request refused with `code`; `members` are further members of the error shape."""

    def __init__(self, code: str, message: str, members: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = dict(members or {})


def _invalid(field: str, message: str, reason: str = "fieldValidationFailed") -> Rejected:
    # ValidationException members (account model): reason (ValidationExceptionReason: invalidRegionOptTarget |
    # fieldValidationFailed) and fieldList of {name, message}.
    return Rejected(
        "ValidationException", message, {"reason": reason, "fieldList": [{"name": field, "message": message}]}
    )


class RegionOptIn:
    """The opt-in Regions each account has enabled (none at start and after `reset`); thread-safe."""

    def __init__(self, management_of: ManagementOf = moto_bridge.management_account_of) -> None:
        self._management_of = management_of
        self._enabled: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._enabled.clear()

    # -- state ----------------------------------------------------------------------------------------------

    def status(self, account: str, partition: str, region: str) -> OptStatus | None:
        """The Region's status in the account, or None when it is no Region of the partition."""
        if region not in partition_regions(partition):
            return None
        if partition != "aws" or region in DEFAULT_REGIONS:
            return OptStatus.ENABLED_BY_DEFAULT
        with self._lock:
            enabled = region in self._enabled.get(account, ())
        return OptStatus.ENABLED if enabled else OptStatus.DISABLED

    def statuses(self, account: str, partition: str) -> list[tuple[str, OptStatus]]:
        """Every Region of the partition with its status in the account, by name."""
        out = []
        for region in partition_regions(partition):
            status = self.status(account, partition, region)
            if status is not None:
                out.append((region, status))
        return out

    def set_enabled(self, account: str, partition: str, region: str, enabled: bool) -> None:
        """Opt the account in to (or out of) an opt-in Region. Raises Rejected for a default or unknown Region."""
        status = self.status(account, partition, region)
        if status is None:
            raise _invalid("RegionName", f"{region} is not a Region of partition {partition}")
        if status is OptStatus.ENABLED_BY_DEFAULT:
            # "Default Regions cannot be enabled or disabled" (manage-acct-regions.html); the reason is the model's
            # invalidRegionOptTarget. Assumption: the code is ValidationException and this message is ours.
            verb = "enabled" if enabled else "disabled"
            raise _invalid(
                "RegionName", f"{region} is enabled by default and cannot be {verb}", "invalidRegionOptTarget"
            )
        with self._lock:
            regions = self._enabled.setdefault(account, set())
            if enabled:
                regions.add(region)
            else:
                regions.discard(region)

    # -- account:* (rest-json) ------------------------------------------------------------------------------

    def handle(self, request: AwsRequest, caller: str) -> Response:
        try:
            account = self._target(request, caller)
            partition = partition_of(request.region)
            if request.operation == "ListRegions":
                return json_response(self._list(request, account, partition))
            region = _region_name(request)
            if request.operation == "GetRegionOptStatus":
                status = self.status(account, partition, region)
                if status is None:
                    raise _invalid("RegionName", f"{region} is not a Region of partition {partition}")
                return json_response({"RegionName": region, "RegionOptStatus": status.value})
            # EnableRegion / DisableRegion have no output shape: an empty 200.
            self.set_enabled(account, partition, region, request.operation == "EnableRegion")
            return json_response({})
        except Rejected as e:
            return error_response(request, e.code, e.message, error_status("account", e.code), e.members)

    def _target(self, request: AwsRequest, caller: str) -> str:
        """The account a request is about: AccountId, else the caller's (AccountId documentation in the model)."""
        named = request.params.get("AccountId")
        if named is None or named == caller:
            # Assumption: naming one's own account is accepted (the model forbids it to the management account only,
            # which localaws does not single out).
            return caller
        if not isinstance(named, str) or not _ACCOUNT_ID.fullmatch(named):
            raise _invalid("AccountId", "AccountId must be a 12-digit account ID")
        # "the caller must be an identity in the organization's management account or a delegated administrator
        # account. The specified account ID must be a member account in the same organization" (model, AccountId).
        # Assumption: delegated administrators and trusted access are not emulated; anyone else is denied with the
        # modelled AccessDeniedException.
        if self._management_of(named) != caller:
            raise Rejected("AccessDeniedException", f"{caller} may not act on account {named}")
        return named

    def _list(self, request: AwsRequest, account: str, partition: str) -> dict[str, object]:
        params = request.params
        wanted = params.get("RegionOptStatusContains")
        if wanted is not None and (
            not isinstance(wanted, list) or not all(isinstance(w, str) and w in OptStatus.__members__ for w in wanted)
        ):
            raise _invalid("RegionOptStatusContains", f"RegionOptStatusContains must list {', '.join(OptStatus)}")
        regions = [
            (name, status) for name, status in self.statuses(account, partition) if not wanted or status in wanted
        ]
        max_results = params.get("MaxResults")
        if max_results is not None and (not isinstance(max_results, int) or not 1 <= max_results <= _MAX_RESULTS):
            raise _invalid("MaxResults", f"MaxResults must be between 1 and {_MAX_RESULTS}")
        start = 0
        token = params.get("NextToken")
        if token:
            if not isinstance(token, str) or not token.isdigit() or int(token) > len(regions):
                raise _invalid("NextToken", "The NextToken is not valid")
            start = int(token)
        # Without MaxResults everything comes in one page (the API reference gives no default page size).
        # Assumption: Regions come sorted by name (the reference promises no order).
        end = len(regions) if max_results is None else min(start + max_results, len(regions))
        document: dict[str, object] = {
            "Regions": [{"RegionName": name, "RegionOptStatus": status.value} for name, status in regions[start:end]]
        }
        if end < len(regions):
            document["NextToken"] = str(end)
        return document

    # -- ec2:DescribeRegions (ec2 protocol) -----------------------------------------------------------------

    def describe_regions(self, request: AwsRequest, caller: str) -> Response:
        """The caller's Regions of its partition: the enabled ones; with ``AllRegions`` the disabled ones too
        ("Indicates whether to display all Regions, including Regions that are disabled for your account"); with
        ``RegionName.N`` exactly those ("You can specify any Regions, whether they are enabled and disabled for your
        account"); then ``Filter.N`` (endpoint, opt-in-status, region-name: the three the model documents; values
        match exactly, the EC2 filter wildcards are not emulated)."""
        params = request.params
        try:
            if params.get("DryRun") == "true":
                # "If you have the required permissions, the error response is DryRunOperation" (model, DryRun).
                # Assumption: HTTP 412, as EC2 answers a dry run.
                raise Rejected("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
            partition = partition_of(request.region)
            statuses = dict(self.statuses(caller, partition))
            named = _numbered(params, "RegionName")
            unknown = [name for name in named if name not in statuses]
            if unknown:
                # The message as EC2 wrote it in an error quoted in awslabs/amazon-s3-tar-tool pull request 7
                # ("api error InvalidParameterValue: Invalid region: [us--east-1]").
                raise Rejected("InvalidParameterValue", f"Invalid region: [{', '.join(unknown)}]")
            if named:
                chosen = sorted(set(named))
            elif params.get("AllRegions") == "true":
                chosen = list(statuses)
            else:
                chosen = [name for name, status in statuses.items() if status in _USABLE]
            rows = [(name, ec2_endpoint(name), _EC2_STATUS[statuses[name]]) for name in chosen]
            for field, values in _filters(params):
                column = {"region-name": 0, "endpoint": 1, "opt-in-status": 2}.get(field)
                if column is None:
                    # Assumption: EC2 refuses a filter name it does not know with InvalidParameterValue.
                    raise Rejected("InvalidParameterValue", f"The filter '{field}' is invalid")
                rows = [row for row in rows if row[column] in values]
        except Rejected as e:
            status = 412 if e.code == "DryRunOperation" else 400
            return error_response(request, e.code, e.message, status)
        return _regions_xml(rows)


def _region_name(request: AwsRequest) -> str:
    region = request.params.get("RegionName")
    # RegionName is required, a string of 1 to 50 characters (shape RegionName).
    if not isinstance(region, str) or not 1 <= len(region) <= 50:
        raise _invalid("RegionName", "RegionName must be a string of 1 to 50 characters")
    return region


def _numbered(params: Mapping[str, Any], prefix: str) -> list[str]:
    """The values of ``<prefix>.1``, ``<prefix>.2``, ... of an ec2-protocol request, in order."""
    found = sorted(
        (int(key[len(prefix) + 1 :]), str(value))
        for key, value in params.items()
        if key.startswith(f"{prefix}.") and key[len(prefix) + 1 :].isdigit()
    )
    return [value for _, value in found]


def _filters(params: Mapping[str, Any]) -> Iterable[tuple[str, set[str]]]:
    """``Filter.N.Name`` with its ``Filter.N.Value.M``: "If you specify multiple values for a filter, the values are
    joined with an OR ... If you specify multiple filters, the filters are joined with an AND" (ec2 model, Filter)."""
    for key, name in params.items():
        match = _FILTER.fullmatch(key)
        if match:
            yield str(name), set(_numbered(params, f"Filter.{match.group(1)}.Value"))


def _regions_xml(rows: Iterable[tuple[str, str, str]]) -> Response:
    """DescribeRegionsResult the way botocore's EC2 parser reads it: root element named after the operation, in the
    model's xmlNamespace, ``regionInfo`` holding one ``item`` per Region (ec2 model, DescribeRegionsResult)."""
    model = service_model("ec2")
    namespace = model.metadata["xmlNamespace"] if model is not None else "http://ec2.amazonaws.com/doc/2016-11-15"
    request_id = str(uuid.uuid4())
    items = "".join(
        f"<item><regionName>{escape(name)}</regionName><regionEndpoint>{escape(endpoint)}</regionEndpoint>"
        f"<optInStatus>{escape(status)}</optInStatus></item>"
        for name, endpoint, status in rows
    )
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><DescribeRegionsResponse xmlns="{namespace}/">'
        f"<requestId>{request_id}</requestId><regionInfo>{items}</regionInfo></DescribeRegionsResponse>"
    )
    return Response(body, 200, {"x-amzn-RequestId": request_id}, content_type="text/xml")
