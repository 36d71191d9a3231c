"""Event coverage, judged: can an X-Ray change in one account and region reach xray-guard as an event? Pure: what the
reads found (chalicelib/coverage.py) in, exactly one string out:

* ``"events"``: a CloudTrail trail logs the region's management write events, and an enabled EventBridge rule with
  the responder's pattern carries them to xray-guard (a member's forwarding rule with an existing role, or in the
  central account's own region the responder's own rule);
* ``"sweep-only: <what is missing>"``: only the scheduled sweep will find a change there;
* ``"unknown: <what could not be read>"`` (``"unknown: GetTrailStatus denied"``): not proven, so also a gap.

Why each part is needed: EventBridge receives "AWS API Call via CloudTrail" events only when "a CloudTrail trail with
logging enabled" exists (EventBridge user guide, "Events from AWS services"); a trail without selectors logs "all
read and write management events" (botocore cloudtrail model, EventSelector); a rule in state ``ENABLED`` or
``ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`` matches events (botocore events model, RuleState); a rule that
targets another account's bus needs a ``RoleArn`` (events model, Target: "you must specify a RoleArn"), and
EventBridge cannot assume a role that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.events import CLOUDTRAIL_SOURCES

EVENTS = "events"
SWEEP_ONLY = "sweep-only"
UNKNOWN = "unknown"

# The names StackSet B (infra/member-rules.yaml) and StackSet A (infra/member-roles.yaml) give the forwarding rule
# and the role it hands to EventBridge.
FORWARDING_RULE = "xray-guard-forward-xray-encryption"
FORWARDER_ROLE = "xray-guard-event-forwarder"

# botocore events model, RuleState: a DISABLED rule matches nothing.
ACTIVE_RULE_STATES = frozenset({"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})

# How AWS says "not authorized": IAM and STS (query protocol) AccessDenied, json services AccessDeniedException
# (EventBridge and CloudTrail common errors), EC2 UnauthorizedOperation.
DENIAL_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})

# The CloudTrail event sources of the calls the shared pattern matches (chalicelib/events.py PATTERN): X-Ray and
# CloudWatch Logs for the two stores, KMS for the key guard. A trail that leaves one out is a gap.
EVENT_SOURCES = CLOUDTRAIL_SOURCES


@dataclass(frozen=True)
class Unread:
    """A fact the coverage check needs and could not read; `what` follows "unknown: "."""

    what: str

    @classmethod
    def from_error(cls, operation: str, code: str) -> Unread:
        return cls(f"{operation} denied" if code in DENIAL_CODES else f"{operation} failed ({code})")


class RoleState(StrEnum):
    EXISTS = "exists"
    MISSING = "missing"


@dataclass(frozen=True)
class Rule:
    """One EventBridge rule that targets the destination, as DescribeRule and ListTargetsByRule report it."""

    name: str
    state: str = ""
    pattern: str | None = None  # DescribeRule's EventPattern, JSON text
    role_arn: str | None = None  # the RoleArn of the rule's target that is the destination
    role: RoleState | Unread | None = None  # iam:GetRole of role_arn (None: not read)
    unread: Unread | None = None  # DescribeRule or ListTargetsByRule failed


@dataclass(frozen=True)
class RuleReading:
    """The rules of one region's default bus that target the destination (ListRuleNamesByTarget).

    `forwarding` is True in a member account or region (the target is the central bus and needs a role), False in
    the central account's own region (the target is the responder function).
    """

    forwarding: bool
    rules: tuple[Rule, ...] = ()
    unread: Unread | None = None


@dataclass(frozen=True)
class Selectors:
    """A trail's event selectors (GetEventSelectors): basic or advanced; both empty means AWS's default."""

    basic: tuple[Mapping[str, Any], ...] = ()
    advanced: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Trail:
    """One trail as DescribeTrails, GetTrailStatus and GetEventSelectors report it."""

    arn: str
    name: str
    home_region: str
    multi_region: bool
    organization: bool = False
    logging: bool | Unread = False
    selectors: Selectors | Unread = Selectors()


@dataclass(frozen=True)
class RegionTrails:
    """The trails seen from one region (DescribeTrails with shadow trails), or why they could not be read."""

    trails: tuple[Trail, ...] = ()
    unread: Unread | None = None


# -- trails ----------------------------------------------------------------------------------------------------------


def covers(trail: Trail, region: str) -> bool:
    """A multi-Region trail logs every Region; any other trail only its home Region (botocore cloudtrail model,
    Trail.IsMultiRegionTrail: "exists only in one Region or exists in all Regions")."""
    return trail.multi_region or trail.home_region == region


def records_management_writes(selectors: Selectors) -> bool:
    """Whether the selectors log management write events of X-Ray and CloudWatch Logs.

    * none at all: AWS's default, "all read and write management events" (cloudtrail model, EventSelector);
    * basic: a selector with IncludeManagementEvents (default true) and ReadWriteType All or WriteOnly (default All)
      that does not exclude either event source (ExcludeManagementEventSources);
    * advanced: a selector with ``eventCategory`` Equals ``Management`` whose every field selector admits a write
      event (``readOnly`` false) from both event sources. A field other than eventCategory, readOnly and eventSource
      (the fields of management-event selectors, CloudTrail user guide "Logging management events") proves nothing,
      so such a selector does not count.
    """
    if not selectors.basic and not selectors.advanced:
        return True
    return any(_basic_records(s) for s in selectors.basic) or any(_advanced_records(s) for s in selectors.advanced)


def _basic_records(selector: Mapping[str, Any]) -> bool:
    if selector.get("IncludeManagementEvents", True) is not True:
        return False
    if selector.get("ReadWriteType", "All") not in {"All", "WriteOnly"}:
        return False
    excluded = selector.get("ExcludeManagementEventSources") or []
    return not any(source in excluded for source in EVENT_SOURCES)


def _advanced_records(selector: Mapping[str, Any]) -> bool:
    fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors") or [] if isinstance(f, Mapping)}
    if set(fields) - {"eventCategory", "readOnly", "eventSource"}:
        return False
    category = fields.get("eventCategory")
    if category is None or "Management" not in (category.get("Equals") or []):
        return False
    if "readOnly" in fields and not _admits(fields["readOnly"], "false"):
        return False
    source = fields.get("eventSource")
    return source is None or all(_admits(source, s) for s in EVENT_SOURCES)


def _admits(field: Mapping[str, Any], value: str) -> bool:
    """An advanced field selector lets `value` through: every operator it uses holds (CloudTrail API reference,
    AdvancedFieldSelector: Equals, StartsWith, EndsWith include; NotEquals, NotStartsWith, NotEndsWith exclude)."""
    tests: dict[str, Callable[[str], bool]] = {
        "Equals": lambda v: value == v,
        "StartsWith": value.startswith,
        "EndsWith": value.endswith,
    }
    for operator, test in tests.items():
        if operator in field and not any(test(str(v)) for v in field[operator] or []):
            return False
        if f"Not{operator}" in field and any(test(str(v)) for v in field[f"Not{operator}"] or []):
            return False
    return True


def trail_records(trail: Trail) -> bool:
    """The trail is logging and records the management write events the responder's pattern matches."""
    return (
        trail.logging is True and isinstance(trail.selectors, Selectors) and records_management_writes(trail.selectors)
    )


def _trail_gaps(region: str, seen: RegionTrails) -> tuple[list[str], list[str]]:
    """(what is missing, what could not be read) for the trail part of a region's coverage. A trail that could not
    be read might be the one that records: then nothing is called missing, the region is unknown."""
    applicable = [t for t in seen.trails if covers(t, region)]
    if any(trail_records(t) for t in applicable):
        return [], []
    unknown = [seen.unread.what] if seen.unread else []
    unknown += [t.logging.what for t in applicable if isinstance(t.logging, Unread)]
    unknown += [t.selectors.what for t in applicable if t.logging is True and isinstance(t.selectors, Unread)]
    if unknown:
        return [], unknown
    if not applicable:
        return ["no CloudTrail trail"], []
    logging = [t.name for t in applicable if t.logging is True]
    if not logging:
        return [f"trail {_names([t.name for t in applicable])} not logging"], []
    return [f"trail {_names(logging)} records no management write events"], []


def _names(names: Sequence[str]) -> str:
    return ", ".join(sorted(set(names)))


# -- rules -----------------------------------------------------------------------------------------------------------


def same_pattern(read: str | None, expected: Mapping[str, Any]) -> bool:
    """JSON-equal, order-insensitive: EventBridge matches an array as any of its values, and `$or` as any of its
    branches ("Content filtering in Amazon EventBridge event patterns"), so order means nothing in either."""
    if read is None:
        return False
    try:
        parsed = json.loads(read)
    except ValueError:
        return False
    return bool(_canonical(parsed) == _canonical(expected))


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _rule_problems(rule: Rule, forwarding: bool, pattern: Mapping[str, Any]) -> list[str]:
    kind = "forwarding rule" if forwarding else "responder rule"
    problems = []
    if rule.state not in ACTIVE_RULE_STATES:
        problems.append(f"{kind} {rule.name} {rule.state or 'state unknown'}")
    if not same_pattern(rule.pattern, pattern):
        problems.append(f"{kind} {rule.name} has another event pattern")
    if forwarding:
        if rule.role_arn is None:
            problems.append(f"{kind} {rule.name} has no target role")
        elif rule.role is RoleState.MISSING:
            problems.append(f"forwarding role {rule.role_arn.rsplit('/', 1)[-1]} missing")
    return problems


def _rule_gaps(reading: RuleReading, pattern: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(what is missing, what could not be read) for the rule part. One rule that qualifies is enough; a rule that
    could not be read might qualify, so then the region is unknown rather than missing anything."""
    if reading.unread:
        return [], [reading.unread.what]
    if not reading.rules:
        return [f"no {'forwarding' if reading.forwarding else 'responder'} rule"], []
    unknown: list[str] = []
    missing: list[tuple[int, bool, str, list[str]]] = []
    for rule in reading.rules:
        if rule.unread:
            unknown.append(rule.unread.what)
            continue
        problems = _rule_problems(rule, reading.forwarding, pattern)
        if problems:
            # The closest to working is the one to report; on a tie, StackSet B's own rule.
            missing.append((len(problems), rule.name != FORWARDING_RULE, rule.name, problems))
        elif reading.forwarding and isinstance(rule.role, Unread):
            unknown.append(rule.role.what)
        else:
            return [], []
    if unknown:
        return [], unknown[:1]
    return min(missing)[3], []


# -- the verdict -----------------------------------------------------------------------------------------------------


def judge(region: str, rules: RuleReading, trails: RegionTrails, pattern: Mapping[str, Any]) -> str:
    """The region's coverage: "events", "sweep-only: ..." (what is missing, then what could not be read), or
    "unknown: ..." when nothing is missing but something could not be read."""
    rule_missing, rule_unknown = _rule_gaps(rules, pattern)
    trail_missing, trail_unknown = _trail_gaps(region, trails)
    return verdict([*rule_missing, *trail_missing], [*rule_unknown, *trail_unknown])


def verdict(missing: Iterable[str], unknown: Iterable[str]) -> str:
    missing, unknown = list(missing), list(unknown)
    if missing:
        return f"{SWEEP_ONLY}: " + "; ".join([*missing, *unknown])
    if unknown:
        return f"{UNKNOWN}: " + "; ".join(unknown)
    return EVENTS


def unreachable(operation: str, code: str) -> str:
    """The coverage of an account that could not be checked at all (its member role could not be assumed...)."""
    return verdict([], [Unread.from_error(operation, code).what])


def is_gap(coverage: str | None) -> bool:
    """Every coverage but "events" is a gap; None (an event-triggered finding) was never judged."""
    return coverage is not None and coverage != EVENTS
