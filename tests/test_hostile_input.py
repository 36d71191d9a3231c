"""Hostile input: generated events never crash the parser or the responder and never cause a write by themselves;
no credential reaches the logs, the alerts or the deployment configuration.

Hypothesis runs derandomized (same examples every run) and without its example database.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as observe
from hypothesis import strategies as st

from chalicelib.errors import EventRejected, RemediationFailed
from chalicelib.events import MAX_FIELD, EncryptionChange, parse_change
from chalicelib.text import CLIP_MARK, clip
from tests.conftest import APPROVED_ALIAS, CENTRAL, EVENTS, MEMBER, MEMBER_REGION, World, load_event
from tests.test_reliability import approved_active, build_responder, flip_to_none, live

FIXTURES = {path.name: load_event(path.name) for path in sorted(EVENTS.glob("*.json"))}
ASCII_ACCOUNT = re.compile(r"[0-9]{12}")
ASCII_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")

# -- generated events -------------------------------------------------------------------------------------------------

DELETE = object()  # a mutation that removes the field

ENVELOPE_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
RECORD_FIELDS = (
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
    "userAgent", "requestParameters", "responseElements", "eventID", "errorCode", "errorMessage",
    "recipientAccountId", "sessionCredentialFromConsole",
)  # fmt: skip
IDENTITY_FIELDS = ("type", "principalId", "arn", "accountId", "sessionContext", "invokedBy")
ISSUER_FIELDS = ("type", "arn", "userName", "accountId")
PATHS: tuple[tuple[str, ...], ...] = (
    *((f,) for f in ENVELOPE_FIELDS),
    *(("detail", f) for f in RECORD_FIELDS),
    *(("detail", "userIdentity", f) for f in IDENTITY_FIELDS),
    *(("detail", "userIdentity", "sessionContext", "sessionIssuer", f) for f in ISSUER_FIELDS),
    *(("detail", "requestParameters", f) for f in ("type", "keyId")),
    ("x-junk",),
    ("detail", "x-junk"),
)

# Values chosen to be almost right: forged sources and names, other partitions, lookalike ids and regions.
FORGED: tuple[object, ...] = (
    "aws.xray ", "AWS.XRAY", "aws.xray\x00", "custom.xray", "aws.kms", "", " ",
    "AWS API Call via CloudTrail\n", "AWS Console Sign In via CloudTrail", "Scheduled Event",
    "xray.amazonaws.com.evil.example", "kms.amazonaws.com", "PutEncryptionConfig ", "putencryptionconfig",
    "GetEncryptionConfig", "PutEncryptionConfigs",
    "arn:aws-cn:sts::222222222222:assumed-role/Admin/alice",
    "arn:aws-us-gov:sts::222222222222:assumed-role/XRayGuardMember/xray-guard",
    "arn:aws-iso-b:iam::222222222222:role/XRayGuardMember", "arn:aws-cn:iam::222222222222:role/Admin",
    "arn:aws:sts::222222222222:assumed-role/", "arn:aws:sts::222222222222:assumed-role//", "arn:",
    "cn-north-1", "us-gov-west-1", "us-isob-east-1", "eu-west-1\n", "EU-WEST-1", "eu_west_1", "eu-west-12",
    "123456789012", "22222222222", "2222222222222", "222222222222\n", "-22222222222", "２２２２２２２２２２２２",
    "0", 0, -1, 2**70, 1.5, float("inf"), True, False, None, [], {}, [None], {"": None},
    "Boto3/1.44.8 xray-guard/0.1.0", "xray-guard/", "AccessDenied", "NONE", "KMS", "alias/aws/xray",
    "\u202eenon", "\x00", "\ud800", "\U0001f600" * 3,
)  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(st.characters(exclude_categories=()), max_size=40)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
huge = st.tuples(st.sampled_from(["a", "é", "\U0001f600", "\\", '"', "\x00", "\ud800"]), st.integers(2040, 70_000)).map(
    lambda pair: pair[0] * pair[1]
)
values = st.one_of(st.just(DELETE), st.sampled_from(FORGED), junk, huge)
plausible = st.one_of(  # strings the parser mostly accepts, so the event reaches the responder's pipeline
    st.just(DELETE),
    st.sampled_from([v for v in FORGED if isinstance(v, str) and "\ud800" not in v]),
    st.text(max_size=64),
)


def mutate(event: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    """Set (or delete) the field at `path`; a branch an earlier mutation removed stays removed."""
    node: Any = event
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


@st.composite
def mutated_fixtures(
    draw: st.DrawFn,
    names: tuple[str, ...] = tuple(FIXTURES),
    paths: tuple[tuple[str, ...], ...] = PATHS,
    new_values: st.SearchStrategy[object] = values,
) -> dict[str, Any]:
    event = copy.deepcopy(FIXTURES[draw(st.sampled_from(names))])
    for path, value in draw(st.lists(st.tuples(st.sampled_from(paths), new_values), min_size=1, max_size=4)):
        mutate(event, path, value)
    return event


hostile_events = st.one_of(
    mutated_fixtures(),
    junk,  # non-dict top levels (None, numbers, strings, lists) and dicts of junk
    st.dictionaries(st.sampled_from(ENVELOPE_FIELDS), junk, max_size=len(ENVELOPE_FIELDS)),
)


def check_can_run(event: Any) -> bool:
    """The rule, stated independently of the parser: an event is usable when the envelope names an account and a
    region, and it is one of the calls the shared pattern names (X-Ray's encryption config or trace segment
    destination; a CloudWatch Logs key or log-group call; a KMS key lifecycle, policy, rotation or alias call), or
    KMS's own "KMS Imported Key Material Expiration" event (its detail is informational: the key may come from
    `resources`). Nothing else may make the parser reject it."""
    if not isinstance(event, dict):
        return False
    account, region = event.get("account"), event.get("region")
    where = (
        isinstance(account, str)
        and ASCII_ACCOUNT.fullmatch(account) is not None
        and isinstance(region, str)
        and ASCII_REGION.fullmatch(region) is not None
    )
    if event.get("detail-type") == "KMS Imported Key Material Expiration":
        return where and event.get("source") == "aws.kms"
    if not isinstance(event.get("detail"), dict):
        return False
    detail = event["detail"]
    calls = {
        ("aws.xray", "xray.amazonaws.com"): {"PutEncryptionConfig", "UpdateTraceSegmentDestination"},
        ("aws.logs", "logs.amazonaws.com"): {
            "AssociateKmsKey",
            "DisassociateKmsKey",
            "DeleteLogGroup",
            "CreateLogGroup",
        },
        ("aws.kms", "kms.amazonaws.com"): {
            "DisableKey",
            "EnableKey",
            "ScheduleKeyDeletion",
            "CancelKeyDeletion",
            "DeleteImportedKeyMaterial",
            "PutKeyPolicy",
            "DisableKeyRotation",
            "CreateAlias",
            "UpdateAlias",
            "DeleteAlias",
        },
    }
    source, event_source, name = event.get("source"), detail.get("eventSource"), detail.get("eventName")
    names = (
        calls.get((source, event_source), set()) if isinstance(source, str) and isinstance(event_source, str) else set()
    )
    return (
        event.get("detail-type") == "AWS API Call via CloudTrail" and where and isinstance(name, str) and name in names
    )


def parsed_or_reason(event: Any) -> EncryptionChange | str:
    """The change, or the reason it was rejected; any other exception propagates (and fails the test)."""
    try:
        return parse_change(event)
    except EventRejected as e:
        return e.reason


def _with(fixture: str, **fields: object) -> dict[str, Any]:
    event = copy.deepcopy(FIXTURES[fixture])
    event.update(fields)
    return event


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(event=hostile_events)
@example(event=_with("console-change-to-none.json", account="２２２２２２２２２２２２"))  # fullwidth digits
def test_parse_change_rejects_exactly_the_events_the_check_cannot_run_on(event: Any) -> None:
    change = parsed_or_reason(event)
    if isinstance(change, str):
        assert change.strip(), "a rejection must say why"
        assert not check_can_run(event), f"rejected for an informational field: {change}"
        observe("rejected")
        return
    observe("accepted")
    assert check_can_run(event)
    # Accepted: the target comes from the envelope, and is exactly an account id and a region name.
    assert (change.account, change.region) == (event["account"], event["region"])
    assert ASCII_ACCOUNT.fullmatch(change.account)
    assert ASCII_REGION.fullmatch(change.region)
    # Informational fields: verbatim, clipped, or unknown (None), never anything else.
    # KMS's own event is not a CloudTrail record: it has no CloudTrail event id.
    native = event.get("detail-type") == "KMS Imported Key Material Expiration"
    sent = None if native else event["detail"].get("eventID")
    assert change.cloudtrail_event_id == (clip(sent, 128) if isinstance(sent, str) else None)
    assert change.actor.arn


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_other_partitions_keep_their_partition_in_the_principal(partition: str) -> None:
    event = copy.deepcopy(FIXTURES["break-glass-change-to-none.json"])
    identity = event["detail"]["userIdentity"]
    identity["arn"] = identity["arn"].replace("arn:aws:", f"arn:{partition}:")
    del identity["sessionContext"]

    actor = parse_change(event).actor

    assert actor.principal_arn == f"arn:{partition}:iam::{MEMBER}:role/SecurityBreakGlass"
    assert actor.session_name == "incident-4711"


# -- the responder, against localaws, with the live state compliant -----------------------------------------------

TARGETS = (  # (account, region) an event may point at: compliant, or with no approved key at all
    (MEMBER, MEMBER_REGION),
    (CENTRAL, "us-east-1"),
    ("333333333333", "ap-southeast-2"),
    (MEMBER, "us-west-2"),
)


RESPONDER_FIXTURES = (
    "console-change-to-none.json",
    "sdk-change-other-key.json",
    "own-echo.json",
    "failed-call-access-denied.json",
)
RECORD_PATHS = tuple(path for path in PATHS if (path[0] == "detail" and len(path) > 2) or path[-1] == "x-junk")


@st.composite
def retargeted_mutations(draw: st.DrawFn) -> dict[str, Any]:
    """The real fixtures with the identity, parameters or junk mutated (most pass the parser and reach the
    responder's pipeline), pointed at one of TARGETS, sometimes with the envelope mutated too."""
    event = draw(mutated_fixtures(RESPONDER_FIXTURES, RECORD_PATHS, plausible))
    account, region = draw(st.sampled_from(TARGETS))
    mutate(event, ("account",), account)
    mutate(event, ("region",), region)
    if draw(st.integers(0, 3)) == 0:
        mutate(event, draw(st.sampled_from(PATHS)), draw(values))
    return event


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=retargeted_mutations())
def test_no_event_causes_a_write_while_the_live_state_is_compliant(world: World, event: dict[str, Any]) -> None:
    # The world persists across examples: set it up once, check it is intact every time.
    if live(world)["Type"] == "NONE":
        world.create_key()
        world.create_key(CENTRAL, "us-east-1")
        world.put(Type="KMS", KeyId=APPROVED_ALIAS)
        world.put(CENTRAL, "us-east-1", Type="KMS", KeyId=APPROVED_ALIAS)
    compliant = {target: live(world, *target) for target in TARGETS[:2]}
    assert all(state["Type"] == "KMS" and state["Status"] == "ACTIVE" for state in compliant.values())
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    world.aws.app.calls.clear()

    try:
        summary = responder.on_event(event)
    except RemediationFailed:
        summary = None

    assert summary is None or isinstance(summary, dict)
    observe(f"{summary['decision'] if summary else 'RemediationFailed'}")
    assert world.calls("PutEncryptionConfig") == [], "a write decided on the event's content alone"
    assert {target: live(world, *target) for target in TARGETS[:2]} == compliant


@pytest.mark.parametrize(
    ("field", "value"),
    [("account", "٢٢٢٢٢٢٢٢٢٢٢٢"), ("region", "eu-west-١")],  # Arabic-Indic digits: \d matches them
)
def test_non_ascii_digits_in_the_envelope_are_rejected_before_any_call(world: World, field: str, value: str) -> None:
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    event = load_event("console-change-to-none.json")
    event[field] = value
    world.aws.app.calls.clear()

    summary = responder.on_event(event)  # today: botocore's InvalidRegionError escapes, or AssumeRole is tried

    assert summary["decision"] == "rejected"
    assert world.calls() == []


def test_a_lookalike_role_in_a_member_account_is_not_taken_for_the_responder(world: World) -> None:
    """Only the member role, or xray-guard's own Lambda role in its own account, makes an echo. A member admin
    can create a role named xray-guard-anything and put the user-agent marker in their own calls."""
    key = world.create_key()
    flip_to_none(world)
    topic, inbox = world.alert_inbox()
    event = load_event("console-change-to-none.json")
    identity = event["detail"]["userIdentity"]
    identity["arn"] = f"arn:aws:sts::{MEMBER}:assumed-role/xray-guard-lookalike/xray-guard-1"
    identity["sessionContext"]["sessionIssuer"]["arn"] = f"arn:aws:iam::{MEMBER}:role/xray-guard-lookalike"
    event["detail"]["userAgent"] = "aws-cli/2.22.0 md/installer#exe xray-guard/0.1.0"

    summary = world.responder(topic).on_event(event)

    assert (summary["decision"], summary.get("outcome")) == ("drift-none", "reverted")
    assert live(world) == approved_active(key)
    [alert] = world.alerts(inbox)
    assert alert["actor"]["principal_arn"].endswith(":role/xray-guard-lookalike")


def test_the_largest_event_still_gets_its_alert_delivered(world: World) -> None:
    """Every informational field far beyond the parser's clip bound (MAX_FIELD characters), in characters JSON
    escapes to 12 bytes each: clipped, reverted, and the alert still fits SNS's limit."""
    key = world.create_key()
    flip_to_none(world)
    topic, inbox = world.alert_inbox()
    event = load_event("console-change-to-none.json")
    identity = event["detail"]["userIdentity"]

    def filled(prefix: str) -> str:
        return prefix + "\U0001f600" * (4 * MAX_FIELD - len(prefix))

    identity["arn"] = filled(f"arn:aws:sts::{MEMBER}:assumed-role/Developer/")
    identity["sessionContext"]["sessionIssuer"]["arn"] = filled(f"arn:aws:iam::{MEMBER}:role/")
    identity["invokedBy"] = filled("")
    event["detail"]["userAgent"] = filled("")
    event["detail"]["sourceIPAddress"] = filled("")
    actor = parse_change(event).actor  # accepted, clipped
    assert actor.user_agent == event["detail"]["userAgent"][:MAX_FIELD] + CLIP_MARK

    summary = world.responder(topic).on_event(event)  # today: RemediationFailed, SNS says "Message too long"

    assert summary["outcome"] == "reverted"
    assert live(world) == approved_active(key)
    [alert] = world.alerts(inbox)
    assert alert["outcome"] == "reverted"


def test_an_identity_center_user_is_matched_as_that_actor_for_exemptions(world: World) -> None:
    world.create_key()
    flip_to_none(world)
    topic, inbox = world.alert_inbox()
    store = "arn:aws:identitystore::111111111111:identitystore/d-9067642ac7"
    responder = world.responder(topic, XRAY_GUARD_EXEMPT_PRINCIPALS=f"identitycenter:{store}/user/*")
    world.aws.app.calls.clear()

    summary = responder.on_event(load_event("identity-center-console-change.json"))

    assert summary["outcome"] == "alerted"  # exempt: reported, never reverted
    assert world.calls("PutEncryptionConfig") == []
    [alert] = world.alerts(inbox)
    assert alert["exempt_actor"] is True
    assert alert["actor"]["arn"] == f"identitycenter:{store}/user/544894e8-80c1-707f-60e3-3ba6510dfac1"


@pytest.mark.parametrize(
    ("fixture", "change"),
    [
        ("odd-user-agent.json", None),
        ("console-change-to-none.json", ("userIdentity", None)),
        ("console-change-to-none.json", ("userIdentity", {"type": "SomethingNew"})),
        ("console-change-to-none.json", ("eventID", None)),
    ],
    ids=["odd-user-agent", "no-user-identity", "unknown-identity-type", "no-event-id"],
)
def test_informational_oddities_never_stop_the_revert(
    world: World, fixture: str, change: tuple[str, object] | None
) -> None:
    key = world.create_key()
    flip_to_none(world)
    topic, inbox = world.alert_inbox()
    event = load_event(fixture)
    if change is not None:
        field, value = change
        if value is None:
            del event["detail"][field]
        else:
            event["detail"][field] = value

    summary = world.responder(topic).on_event(event)

    assert (summary["decision"], summary["outcome"]) == ("drift-none", "reverted")
    assert live(world) == approved_active(key)
    [alert] = world.alerts(inbox)
    assert alert["outcome"] == "reverted"
    assert alert["actor"]["arn"]


# -- secrets ----------------------------------------------------------------------------------------------------------

SECRET_SHAPES = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "40-character secret": re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"),
    "credential field name": re.compile(r"SecretAccessKey|SessionToken|aws_secret|aws_session_token", re.IGNORECASE),
    "Slack webhook": re.compile(r"hooks\.slack\.com"),
    "Slack token": re.compile(r"\bxox[abposr]-"),
}


def secrets_in(text: str, known: tuple[str, ...] = ()) -> list[str]:
    """What in `text` looks like a credential, or is one of the `known` credential values (or a long enough
    head or tail of one: a truncated secret is still a leak)."""
    found = [name for name, shape in SECRET_SHAPES.items() if shape.search(text)]
    for value in known:
        pieces = {value[:12], value[-12:]} if len(value) >= 24 else {value}
        found += [f"known value {value[:4]}..." for piece in pieces if piece and piece in text]
    return found


@contextmanager
def captured_log() -> Iterator[io.StringIO]:
    """The structured log lines, whatever handlers configure_logging did or did not install before."""
    logger = logging.getLogger("xray_guard")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_secret_detector_finds_real_credentials(world: World) -> None:
    creds = world.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/XRayGuardMember", RoleSessionName="detector-check"
    )["Credentials"]
    for value in (creds["AccessKeyId"], creds["SecretAccessKey"]):
        assert secrets_in(f"error: {value} rejected"), value
    assert secrets_in(json.dumps(creds, default=str))
    for leak in ("https://hooks.slack.com/services/T0/B0/abc", "xoxb-1234-5678-abcd", "AKIAIOSFODNN7EXAMPLE"):
        assert secrets_in(leak), leak
    for clean in ("alias/xray-encryption", "arn:aws:sns:us-east-1:111122223333:xray-guard-alerts", "revert"):
        assert secrets_in(clean) == [], clean


def test_a_drift_and_revert_log_no_credentials(world: World) -> None:
    key = world.create_key()
    flip_to_none(world)
    topic, inbox = world.alert_inbox()
    issued: list[dict[str, Any]] = []

    def keep_issued(**kwargs: Any) -> None:
        issued.append(kwargs["parsed"]["Credentials"])

    session = botocore.session.get_session()
    session.register("after-call.sts.AssumeRole", keep_issued)
    responder = build_responder(world, topic, session=session)
    event = load_event("console-change-to-none.json")
    event["detail"]["errorMessage"] = "not an error, but hostile text: SecretAccessKey"  # ignored, never logged

    with captured_log() as log:
        responder.on_event(event)
        responder.on_event(load_event("own-echo.json"))
        responder.on_event(load_event("malformed.json"))

    text = log.getvalue()
    assert '"kind": "decision"' in text  # the capture saw the run ...
    assert '"outcome": "reverted"' in text  # ... and the revert
    assert live(world) == approved_active(key)
    [creds] = issued  # the member-role credentials the responder worked with
    base = session.get_credentials()
    assert base is not None
    known = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"], base.access_key, base.secret_key)
    assert secrets_in(text, known) == []
    assert secrets_in(json.dumps(world.alerts(inbox)), known) == []


def _environments(node: object, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "environment_variables" and isinstance(value, dict):
                yield f"{where}/{name}", value
            else:
                yield from _environments(value, f"{where}/{name}")


def test_chalice_config_environments_hold_no_credentials_or_webhooks() -> None:
    config = json.loads((Path(__file__).parent.parent / ".chalice" / "config.json").read_text())
    environments = dict(_environments(config))
    assert "/environment_variables" in environments
    assert {"/stages/dev/environment_variables", "/stages/prod/environment_variables"} <= set(environments)

    for where, variables in environments.items():
        for name, value in variables.items():
            assert not re.search(r"SECRET|TOKEN|PASSWORD|WEBHOOK|ACCESS_KEY", name), f"{where}: {name}"
            assert secrets_in(str(value)) == [], f"{where}: {name}={value}"
