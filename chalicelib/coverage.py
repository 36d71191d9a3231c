"""Adapter for event coverage: reads, in one account, what chalicelib/coverage_policy.py judges (EventBridge rules,
the forwarder role, CloudTrail trails), read-only, over the clients the factory gives. Domain values out; a read that
fails becomes an `Unread` in the reading, never an exception, so coverage can never break the encryption check.

Calls, per account: per region ListRuleNamesByTarget (rules are regional), DescribeRule and ListTargetsByRule for the
rules it names; iam:GetRole once per role ARN (IAM is global); DescribeTrails in the first Region, and only if it
shows no multi-Region trail that logs management write events (one covers every Region, so the other Regions need no
trail call at all) in all the other Regions at once; GetTrailStatus and GetEventSelectors once per trail ARN, in the
Region that described it.
DescribeTrails has to be asked per Region otherwise: "information for all trails in the current Region and any
associated shadow trails in other Regions" (botocore cloudtrail model, DescribeTrails trailNameList), so a
single-Region trail is seen from its home Region only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.coverage_policy import (
    RegionTrails,
    RoleState,
    Rule,
    RuleReading,
    Selectors,
    Trail,
    Unread,
    trail_records,
)
from chalicelib.domain import Arn
from chalicelib.errors import AwsCallError
from chalicelib.sessions import ClientFactory, call_aws, paginate
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_events import EventBridgeClient

TRAIL_READS_AT_ONCE = 17  # DescribeTrails calls in flight for one account (as many as the sweep's Region workers)

# A Region's cloudtrail client and its DescribeTrails trailList, or why it could not be read.
_Described = tuple["CloudTrailClient", list[Mapping[str, Any]]] | Unread


@dataclass(frozen=True)
class Destination:
    """Where events must arrive: the central default bus, and in its account and Region the responder function."""

    bus_arn: str
    responder_arn: str | None  # None: XRAY_GUARD_RESPONDER_FUNCTION not set

    @property
    def bus_account(self) -> str:
        return Arn.of(self.bus_arn).account

    @property
    def bus_region(self) -> str:
        return Arn.of(self.bus_arn).region

    def is_central(self, account: str, region: str) -> bool:
        return (account, region) == (self.bus_account, self.bus_region)

    @classmethod
    def resolve(
        cls, bus_arn: str | None, responder: str | None, *, partition: str, region: str, home_account: Callable[[], str]
    ) -> Destination:
        """The configured bus (default: the default bus of the account and Region xray-guard runs in) and responder
        (a function name is taken to live in the bus's account and Region, as the central stack deploys it)."""
        bus = bus_arn or f"arn:{partition}:events:{region}:{home_account()}:event-bus/default"
        if responder is None or responder.startswith("arn:"):
            return cls(bus, responder)
        where = Arn.of(bus)
        return cls(bus, f"arn:{where.partition}:lambda:{where.region}:{where.account}:function:{responder}")


def destination_for(settings: Settings, clients: ClientFactory) -> Destination:
    return Destination.resolve(
        settings.central_bus_arn,
        settings.responder_function,
        partition=clients.partition,
        region=clients.region,
        home_account=clients.home_account,
    )


class CoverageReader:
    """The coverage facts of one account. Thread-safe: `rules` runs per Region in the sweep's workers."""

    def __init__(self, clients: ClientFactory, account: str, destination: Destination) -> None:
        self._clients = clients
        self._account = account
        self._destination = destination
        self._lock = threading.Lock()
        self._roles: dict[str, RoleState | Unread] = {}

    # -- rules -------------------------------------------------------------------------------------------------------

    def rules(self, region: str) -> RuleReading:
        """The default bus's rules that target the destination, each with its state, pattern and target role."""
        central = self._destination.is_central(self._account, region)
        if central and self._destination.responder_arn is None:
            return RuleReading(forwarding=False, unread=Unread("XRAY_GUARD_RESPONDER_FUNCTION not set"))
        target = self._destination.responder_arn if central else self._destination.bus_arn
        assert target is not None
        events = self._clients.events(self._account, region)
        try:
            pages = paginate(events, "events", "ListRuleNamesByTarget", "list_rule_names_by_target", TargetArn=target)
        except AwsCallError as e:
            return RuleReading(forwarding=not central, unread=Unread.from_error(e.operation, e.code))
        names = sorted({name for page in pages for name in page.get("RuleNames", [])})
        return RuleReading(forwarding=not central, rules=tuple(self._rule(events, name, target) for name in names))

    def _rule(self, events: EventBridgeClient, name: str, target: str) -> Rule:
        try:
            described = call_aws("events", "DescribeRule", lambda: events.describe_rule(Name=name))
            pages = paginate(events, "events", "ListTargetsByRule", "list_targets_by_rule", Rule=name)
        except AwsCallError as e:
            return Rule(name, unread=Unread.from_error(e.operation, e.code))
        roles = [t.get("RoleArn") for page in pages for t in page.get("Targets", []) if t.get("Arn") == target]
        role_arn = next((r for r in roles if r), None)
        return Rule(
            name,
            state=str(described.get("State", "")),
            pattern=described.get("EventPattern"),
            role_arn=role_arn,
            role=self._role(role_arn) if role_arn else None,
        )

    def _role(self, role_arn: str) -> RoleState | Unread:
        """Whether the role exists (iam:GetRole; IAM is global, so once per account: the Regions' workers wait for
        the first one to ask rather than each asking)."""
        with self._lock:
            known = self._roles.get(role_arn)
            if known is None:
                known = self._roles[role_arn] = self._get_role(role_arn)
            return known

    def _get_role(self, role_arn: str) -> RoleState | Unread:
        iam = self._clients.iam(self._account)
        name = role_arn.rsplit("/", 1)[-1]  # GetRole takes the name without its path (iam model, roleNameType)
        try:
            call_aws("iam", "GetRole", lambda: iam.get_role(RoleName=name))
        except AwsCallError as e:
            return RoleState.MISSING if e.code == "NoSuchEntity" else Unread.from_error(e.operation, e.code)
        return RoleState.EXISTS

    # -- trails ------------------------------------------------------------------------------------------------------

    def trails(self, regions: Sequence[str]) -> dict[str, RegionTrails]:
        """The trails each Region sees, reading as few Regions as the API allows (see the module docstring)."""
        if not regions:
            return {}
        first = self._clients.region if self._clients.region in regions else regions[0]
        order = [first, *(r for r in regions if r != first)]
        known: dict[str, Trail] = {}
        seen: dict[str, RegionTrails] = {}
        everywhere: tuple[Trail, ...] = ()
        described = {first: self._describe(first)}
        for region in order:
            if everywhere:
                break
            if region not in described:
                # The first Region shows no multi-Region trail that records (one would have shown there: it is listed
                # in every Region, as a shadow trail elsewhere), or it could not be read. Either way the other Regions
                # are all read, and at once: one after the other they were an account's longest chain of calls
                # (bench/audit.py, at 50 ms a call). When the first Region could not be read this may read Regions
                # that a one-by-one search would have stopped before.
                with ThreadPoolExecutor(max_workers=min(len(order) - 1, TRAIL_READS_AT_ONCE)) as pool:
                    described.update(zip(order[1:], pool.map(self._describe, order[1:]), strict=True))
            seen[region] = self._region_trails(described[region], known)
            everywhere = tuple(t for t in seen[region].trails if t.multi_region and trail_records(t))
        return {
            region: RegionTrails(
                tuple({t.arn: t for t in (*seen.get(region, RegionTrails()).trails, *everywhere)}.values()),
                seen[region].unread if region in seen else None,
            )
            for region in regions
        }

    def _describe(self, region: str) -> _Described:
        """The Region's cloudtrail client and its DescribeTrails answer."""
        cloudtrail = self._clients.cloudtrail(self._account, region)
        try:
            # includeShadowTrails: without it "organization trails in a member account and Region replication trails
            # will not be returned" (cloudtrail model, DescribeTrailsRequest.includeShadowTrails).
            described = call_aws(
                "cloudtrail", "DescribeTrails", lambda: cloudtrail.describe_trails(includeShadowTrails=True)
            )
        except AwsCallError as e:
            return Unread.from_error(e.operation, e.code)
        return cloudtrail, list(described.get("trailList", []))

    def _region_trails(self, described: _Described, known: dict[str, Trail]) -> RegionTrails:
        """A Region's trails from its DescribeTrails answer; each trail not yet known is read once, in the Region that
        described it (GetTrailStatus, GetEventSelectors)."""
        if isinstance(described, Unread):
            return RegionTrails(unread=described)
        cloudtrail, entries = described
        trails = []
        for entry in entries:
            arn = str(entry["TrailARN"])
            if arn not in known:
                known[arn] = self._trail(cloudtrail, entry)
            trails.append(known[arn])
        return RegionTrails(tuple(trails))

    def _trail(self, cloudtrail: CloudTrailClient, entry: Mapping[str, Any]) -> Trail:
        arn = str(entry["TrailARN"])
        # By ARN: "To get the status of a shadow trail ... you must specify its ARN", and for an organization trail
        # seen from a member account "you must provide the full ARN" (cloudtrail model, GetTrailStatusRequest.Name).
        # Assumption: GetEventSelectors takes a shadow trail's ARN the same way from any Region that shows it (its
        # model documents only the ARN format; prowler-cloud/prowler's cloudtrail service calls both like this).
        logging: bool | Unread
        try:
            status = call_aws("cloudtrail", "GetTrailStatus", lambda: cloudtrail.get_trail_status(Name=arn))
            logging = status.get("IsLogging") is True
        except AwsCallError as e:
            logging = Unread.from_error(e.operation, e.code)
        selectors: Selectors | Unread
        try:
            answer = call_aws("cloudtrail", "GetEventSelectors", lambda: cloudtrail.get_event_selectors(TrailName=arn))
            selectors = Selectors(
                tuple(answer.get("EventSelectors") or ()), tuple(answer.get("AdvancedEventSelectors") or ())
            )
        except AwsCallError as e:
            selectors = Unread.from_error(e.operation, e.code)
        return Trail(
            arn=arn,
            name=str(entry.get("Name", arn.rsplit("/", 1)[-1])),
            home_region=str(entry.get("HomeRegion", Arn.of(arn).region)),
            multi_region=entry.get("IsMultiRegionTrail") is True,
            organization=entry.get("IsOrganizationTrail") is True,
            logging=logging,
            selectors=selectors,
        )
