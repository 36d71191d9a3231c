"""CloudTrail's read side as member accounts see it: ``DescribeTrails``, ``GetTrailStatus`` and ``GetEventSelectors``
over moto's trails, with the two things moto 5.2.5 does not do:

* an **organization trail** is shown to the organization's member accounts. "A shadow trail is ... in the case of an
  organization trail, the replication of an organization trail in member accounts"; without shadow trails
  "organization trails in a member account and Region ... will not be returned" (botocore data/cloudtrail/2013-11-01/
  service-2.json, DescribeTrailsRequest.includeShadowTrails); a member asks its status by ARN: "If the trail is an
  organization trail and you are a member account ..., you must provide the full ARN of that trail, and not just the
  name" (GetTrailStatusRequest.Name). moto shows a trail only to the account that created it.
* a trail **without selectors** answers AWS's default selector. "By default, trails created without specific event
  selectors will be configured to log all read and write management events, and no data events" (shape
  EventSelector), with the member defaults ReadWriteType "By default, the value is All", IncludeManagementEvents
  "By default, the value is true", ExcludeManagementEventSources "By default ... is empty"; the AWS CLI's example for
  ``get-event-selectors`` prints exactly that selector for such a trail. moto answers empty lists.

Visibility, per the same shapes: in Region R an account sees its own trails homed in R; with shadow trails (the
default) also its own multi-Region trails homed elsewhere and the organization trails of the organization it belongs
to (multi-Region, or homed in R). A trail named by name must be the caller's own and homed in R ("To get the status
of a shadow trail ... you must specify its ARN"); by ARN, any trail the caller sees in R. Assumption: GetEventSelectors
resolves a name or ARN the same way (its model documents only the formats).

Wire contract (protocol json, target ``com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.*``): answers
``trailList`` / the ``GetTrailStatusResponse`` members / ``TrailARN`` + ``EventSelectors`` or
``AdvancedEventSelectors``; a trail not found is ``TrailNotFoundException`` (no ``httpStatusCode``: 400).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.wrappers import Response

from localaws import moto_bridge
from localaws.moto_bridge import TrailRecord
from localaws.protocol import AwsRequest, error_response, json_response, partition_of

OPERATIONS = frozenset({"DescribeTrails", "GetTrailStatus", "GetEventSelectors"})

# The selector a trail created without selectors reports (see the module docstring).
DEFAULT_EVENT_SELECTORS: tuple[dict[str, Any], ...] = (
    {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [], "ExcludeManagementEventSources": []},
)

TrailSource = Callable[[str], list[TrailRecord]]
Members = Callable[[str, str], frozenset[str]]
ManagementOf = Callable[[str], str | None]


class TrailNotFound(Exception):
    """CloudTrail's ``TrailNotFoundException``."""


class CloudTrailReads:
    """Answers the three read operations from moto's trails; keeps no state of its own."""

    def __init__(
        self,
        trails_of: TrailSource = moto_bridge.trails_of,
        members: Members = moto_bridge.organization_members,
        management_of: ManagementOf = moto_bridge.management_account_of,
    ) -> None:
        self._trails_of = trails_of
        self._members = members
        self._management_of = management_of

    def handle(self, request: AwsRequest, account: str) -> Response:
        try:
            if request.operation == "DescribeTrails":
                return json_response(self.describe(account, request.region, request.params))
            name = request.param("Name" if request.operation == "GetTrailStatus" else "TrailName") or ""
            trail = self.find(account, request.region, name)
        except TrailNotFound as error:
            return error_response(request, "TrailNotFoundException", str(error), 400)
        if request.operation == "GetTrailStatus":
            return json_response(trail.status)
        return json_response(selectors(trail))

    def visible(self, account: str, region: str, *, shadows: bool = True) -> list[TrailRecord]:
        """The trails `account` sees from `region` (see the module docstring)."""
        own = self._trails_of(account)
        seen = [t for t in own if t.home_region == region or (shadows and t.multi_region)]
        management = self._management_of(account)
        member = management not in (None, account) and account in self._members(str(management), partition_of(region))
        if shadows and member:
            seen += [
                t
                for t in self._trails_of(str(management))
                if t.organization and (t.multi_region or t.home_region == region)
            ]
        return seen

    def describe(self, account: str, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        shadows = params.get("includeShadowTrails") is not False  # "The default is true."
        trails = self.visible(account, region, shadows=shadows)
        wanted = params.get("trailNameList") or []
        if wanted:
            trails = [t for t in self.visible(account, region) if _named(t, wanted, account, region)]
        return {"trailList": [_description(t) for t in trails]}

    def find(self, account: str, region: str, name: str) -> TrailRecord:
        for trail in self.visible(account, region):
            if _named(trail, [name], account, region):
                return trail
        raise TrailNotFound(f"Unknown trail: {name} for the user: {account}")


def _named(trail: TrailRecord, names: Iterable[object], account: str, region: str) -> bool:
    """By ARN any trail seen here; by name only the caller's own trail homed here."""
    return any(
        name == trail.arn or (name == trail.name and (trail.account, trail.home_region) == (account, region))
        for name in names
    )


def _description(trail: TrailRecord) -> dict[str, Any]:
    # Trail.HasCustomEventSelectors: "Specifies if the trail has custom event selectors" (moto always says False).
    custom = bool(trail.event_selectors or trail.advanced_event_selectors)
    return {**trail.description, "HasCustomEventSelectors": custom}


def selectors(trail: TrailRecord) -> dict[str, Any]:
    """GetEventSelectors' answer: the basic or the advanced selectors (a trail has one kind: "You cannot apply both
    event selectors and advanced event selectors to a trail", shape EventSelector), or AWS's default selector.
    Assumption: AWS leaves out the kind the trail does not use."""
    if trail.advanced_event_selectors:
        return {"TrailARN": trail.arn, "AdvancedEventSelectors": trail.advanced_event_selectors}
    basic = trail.event_selectors or [dict(s) for s in DEFAULT_EVENT_SELECTORS]
    return {"TrailARN": trail.arn, "EventSelectors": basic}
