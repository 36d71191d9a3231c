"""The demo a new user runs first: a console change to NONE in a member account is caught, reverted to the
approved key, verified ACTIVE and reported; then the same in alert mode and by a break-glass principal; then an
organization deployed as infra/README.md says, but for one Region without its forwarding rule: the audit table (its
COVERAGE column shows `events` and that gap side by side), one sweep in revert mode with its digest, and the audit
table after.

Handlers are invoked exactly as Lambda invokes them: `handler(event_dict, context)`, each "deployment" a fresh
Lambda container (`chalicelib.runtime.Container`) whose environment is the function's configuration plus the AWS
variables Lambda provides. The local AWS world (people, keys, topic) comes from `localaws.world`; this process's
own environment is never read or changed.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import app
from chalicelib import cli, runtime
from chalicelib.coverage_policy import FORWARDER_ROLE, FORWARDING_RULE
from chalicelib.gc_tuning import fewer_collections
from chalicelib.log import configure_logging
from chalicelib.sessions import session_from_env
from localaws import LocalAWS
from localaws.world import (
    APPROVED_ALIAS,
    CENTRAL,
    CENTRAL_TABLE,
    HOME_REGION,
    MEMBER,
    RESPONDER,
    LocalWorld,
    approved_key_policy,
    load_event,
    topic_arn,
)
from localaws.world import MEMBER_REGION as REGION

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "build" / "demo-decisions.jsonl"
TOPIC = topic_arn()
BOLD, DIM, GREEN, RED, YELLOW, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[33m", "\033[0m") if sys.stdout.isatty() else ("",) * 6
)


class LambdaContext:
    """What Lambda passes as `context` (only what xray-guard reads)."""

    def __init__(self, name: str) -> None:
        self.function_name = f"xray-guard-prod-{name}"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{CENTRAL}:function:{self.function_name}"


def step(title: str) -> None:
    print(f"\n{BOLD}== {title}{RESET}")


def show(label: str, value: object) -> None:
    print(f"   {label:<10} {value}")


def box(title: str, text: str) -> None:
    print(f"\n   {DIM}┌── {title}{RESET}")
    for line in text.rstrip("\n").splitlines():
        print(f"   {DIM}│{RESET} {line}")
    print(f"   {DIM}└──{RESET}")


def live(world: LocalWorld, account: str, region: str) -> str:
    config = world.encryption(account, region)
    key = config.get("KeyId")
    return f"{config['Type']} {config['Status']}" + (f" {key}" if key else " (AWS-owned key)")


def approved_key(world: LocalWorld, account: str, region: str, *, rotation: bool = True) -> str:
    """Steps 1-3 of the remediation guide in one member account and region (rotation on, unless told not to)."""
    arn = world.create_key(
        account,
        region,
        Tags=[{"TagKey": "purpose", "TagValue": "xray-encryption"}],
        Policy=approved_key_policy(account, region),
    )
    if rotation:
        world.kms(account, region).enable_key_rotation(KeyId=arn.rsplit("/", maxsplit=1)[-1])
    world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)
    return arn


class Alerts:
    """What SNS accepted for the alert topic (localaws's GET /_localaws/published): each message with its subject
    and one rendering per subscriber protocol (email, Chatbot's `default`, the machine's `sqs`)."""

    def __init__(self, world: LocalWorld) -> None:
        self._world = world
        self._seen = 0

    def mark(self) -> None:
        """From now on, `new()` answers only what is published after this point."""
        self._seen = len(self._world.published(TOPIC))

    def new(self) -> list[dict[str, Any]]:
        return self._world.published(TOPIC)[self._seen :]


@contextmanager
def deployment(world: LocalWorld, **env: str) -> Iterator[Any]:
    """A fresh Lambda container with this configuration: its environment is the function's variables plus the AWS
    ones Lambda provides (here: localaws and offline credentials), and its session is built from that
    environment. The app's handlers invoked inside the block run in it."""
    function_env = world.env(XRAY_GUARD_KMS_KEY=APPROVED_ALIAS, XRAY_GUARD_TOPIC_ARN=TOPIC, **env)
    with runtime.serving(runtime.Container(function_env, session_from_env(function_env))):
        yield app


def show_alert(alerts: Alerts) -> None:
    for message in alerts.new():
        print(f"\n   SNS subject: {BOLD}{message['subject']}{RESET}")
        box("email rendering", message["email"])
        chatbot = json.loads(message["default"])
        content = chatbot["content"]
        slack = f"*{content['title']}*\n{content['description']}\n" + "\n".join(
            f"• {s}" for s in content.get("nextSteps", [])
        )
        box("Slack rendering (Amazon Q Developer custom notification, client-markdown)", slack)


def responder_part(world: LocalWorld, alerts: Alerts) -> None:
    step(f"1. Member account {MEMBER}, {REGION}: the approved key (guide steps 1-3)")
    key = approved_key(world, MEMBER, REGION)
    show("key", key)
    while "UPDATING" in live(world, MEMBER, REGION):  # guide step 3: "may briefly read UPDATING while X-Ray re-keys"
        time.sleep(0.2)
    show("X-Ray", live(world, MEMBER, REGION))
    world.create_topic()
    show("alerts", f"SNS topic {TOPIC} (central account {CENTRAL})")

    step("2. Someone switches X-Ray to the default encryption in the console (Type NONE)")
    world.put(MEMBER, REGION, Type="NONE")
    show("X-Ray", f"{RED}{live(world, MEMBER, REGION)}{RESET}")
    event = load_event("console-change-to-none.json")
    show("event", f"CloudTrail {event['detail']['eventID']} via EventBridge (tests/events/console-change-to-none.json)")

    step("3. xray-guard in revert mode: on_xray_encryption_change(event, context)")
    alerts.mark()
    with deployment(world, XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("X-Ray", f"{GREEN}{live(world, MEMBER, REGION)}{RESET}")
    show_alert(alerts)

    step("4. The same drift in alert mode: reported, nothing changed")
    world.put(MEMBER, REGION, Type="NONE")
    alerts.mark()
    with deployment(world, XRAY_GUARD_MODE="alert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("X-Ray", f"{YELLOW}{live(world, MEMBER, REGION)}{RESET}")
    [alert] = alerts.new()
    print(f"   subject: {alert['subject']}")
    print(textwrap.indent("\n".join(line for line in alert["email"].splitlines()
                                    if line.startswith(("Action", "Verified"))), "   "))  # fmt: skip

    step("5. Revert mode, but the change was made by the break-glass role: alerted, never reverted")
    glass = load_event("break-glass-change-to-none.json")
    alerts.mark()
    with deployment(
        world, XRAY_GUARD_MODE="revert", XRAY_GUARD_EXEMPT_PRINCIPALS="arn:aws:iam::*:role/SecurityBreakGlass"
    ) as app:
        result = app.on_xray_encryption_change(glass, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("X-Ray", f"{YELLOW}{live(world, MEMBER, REGION)}{RESET}")
    [alert] = alerts.new()
    print(f"   subject: {alert['subject']}")
    email = alert["email"]
    print(textwrap.indent("\n".join(line for line in email.splitlines() if line.startswith(("Who", "Action"))), "   "))


def spans_part(world: LocalWorld, alerts: Alerts) -> None:
    step("6. Transaction Search: a developer sends every span to CloudWatch Logs (aws/spans), without a key")
    world.put(MEMBER, REGION, Type="KMS", KeyId=APPROVED_ALIAS)  # incident over
    while "UPDATING" in live(world, MEMBER, REGION):
        time.sleep(0.2)
    show("X-Ray", f"{live(world, MEMBER, REGION)} (restored after the break-glass incident)")
    world.client("xray", MEMBER, REGION).update_trace_segment_destination(Destination="CloudWatchLogs")
    show("spans", f"{RED}{spans_store(world, MEMBER, REGION)}{RESET}")
    event = load_event("transaction-search-enabled.json")
    show("event", f"CloudTrail {event['detail']['eventID']} (tests/events/transaction-search-enabled.json)")
    alerts.mark()
    with deployment(world, XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("spans", f"{GREEN}{spans_store(world, MEMBER, REGION)}{RESET}")
    show("X-Ray", live(world, MEMBER, REGION))
    [alert] = alerts.new()
    print(f"   subject: {alert['subject']}")
    email = alert["email"]
    print(
        textwrap.indent("\n".join(line for line in email.splitlines() if line.startswith(("Spans", "Action"))), "   ")
    )


def kms_event(fixture: str, key_arn: str) -> dict[str, Any]:
    """A real-shaped KMS CloudTrail event (tests/events/) about this key: the fixture's example key replaced."""
    example = "1234abcd-12ab-34cd-56ef-1234567890ab"
    text = json.dumps(load_event(fixture)).replace(f"arn:aws:kms:{REGION}:{MEMBER}:key/{example}", key_arn)
    event: dict[str, Any] = json.loads(text.replace(example, key_arn.rsplit("/", 1)[-1]))
    return event


def key_part(world: LocalWorld, alerts: Alerts) -> None:
    step("7. The key owner disables the approved key (the guide's revocation lever): X-Ray stops storing traces")
    kms = world.kms(MEMBER, REGION)
    key = kms.describe_key(KeyId=APPROVED_ALIAS)["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=key)
    show("key", f"{RED}{key} Disabled{RESET} (aws kms disable-key)")
    event = kms_event("kms-disable-key.json", key)
    show("event", f"CloudTrail {event['detail']['eventID']} DisableKey (tests/events/kms-disable-key.json)")
    alerts.mark()
    with deployment(world, XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    print(f"   {DIM}(the same invocation alerts; it does not fail, and xray-guard never re-enables a key){RESET}")
    show_alert(alerts)

    step("8. The owner runs the undo command from the alert (aws kms enable-key): the all-clear")
    kms.enable_key(KeyId=key)
    event = kms_event("kms-enable-key.json", key)
    alerts.mark()
    with deployment(world, XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    [clear] = alerts.new()
    print(f"   subject: {clear['subject']}")
    print(textwrap.indent("\n".join(line for line in clear["email"].splitlines()
                                    if line.startswith(("Finding", "Key"))), "   "))  # fmt: skip


def spans_store(world: LocalWorld, account: str, region: str) -> str:
    destination = world.client("xray", account, region).get_trace_segment_destination()
    groups = world.client("logs", account, region).describe_log_groups(logGroupNamePrefix="aws/spans")["logGroups"]
    key = next((g.get("kmsKeyId") for g in groups if g["logGroupName"] == "aws/spans"), None)
    return f"destination {destination['Destination']} ({destination['Status']}), aws/spans " + (
        f"on {key}" if key else "WITHOUT a KMS key (CloudWatch Logs default)"
    )


def deploy_event_coverage(world: LocalWorld, accounts: list[str], regions: list[str], missing: tuple[str, str]) -> str:
    """The event path of infra/README.md: the organization trail (step 1: multi-Region and without event selectors,
    so it records all management events, writes included), the central stack's responder rule on the central bus
    (step 2), StackSet A's forwarder role in every account (step 4) and StackSet B's forwarding rule in every Region
    of every account except the central bus's own and the (account, Region) `missing` (step 5). Returns the trail's
    name."""
    trail = "org-trail"
    world.create_trail(CENTRAL, trail, IsOrganizationTrail=True, IsMultiRegionTrail=True)
    world.create_responder_rule()
    for account in accounts:
        role = world.create_forwarder_role(account)
        for region in regions:
            if (account, region) not in {(CENTRAL, HOME_REGION), missing}:
                world.create_forwarding_rule(account, region, role)
    return trail


def audit(world: LocalWorld, argv: list[str], env: dict[str, str], *, quiet: bool = False) -> int:
    """`python -m chalicelib.cli` with these arguments and settings, in the central account and Region."""
    if quiet:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            return cli.main(argv, env=world.env(**env))
    return cli.main(argv, env=world.env(**env))


def sweep_part(world: LocalWorld, alerts: Alerts, regions: list[str], settings: dict[str, str]) -> None:
    step("11. The scheduled sweep in revert mode: scheduled_sweep → SQS → sweep_account per account → one digest")
    sqs = world.client("sqs")
    queue = sqs.create_queue(QueueName="xray-guard-sweep")["QueueUrl"]
    alerts.mark()
    with deployment(
        world, XRAY_GUARD_MODE="revert", XRAY_GUARD_ACCOUNTS="org", XRAY_GUARD_REGIONS=",".join(regions),
        XRAY_GUARD_SWEEP_QUEUE_URL=queue, XRAY_GUARD_SWEEP_TABLE=CENTRAL_TABLE, **settings,
    ) as app:  # fmt: skip
        scheduled = {"version": "0", "id": "sweep-demo", "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": CENTRAL, "time": "2026-11-28T06:00:00Z", "region": "us-east-1",
                     "resources": [], "detail": {}}  # fmt: skip
        show("started", json.dumps(app.scheduled_sweep(scheduled, LambdaContext("scheduled_sweep"))))
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                record = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                          "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                          "eventSourceARN": f"arn:aws:sqs:us-east-1:{CENTRAL}:xray-guard-sweep"}  # fmt: skip
                result = app.sweep_account({"Records": [record]}, LambdaContext("sweep_account"))
                show("account", json.dumps(result))
    [digest] = alerts.new()
    print(f"\n   SNS subject: {BOLD}{digest['subject']}{RESET}")
    box("digest email rendering", digest["email"])


def org_part(world: LocalWorld, alerts: Alerts) -> None:
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    step("9. An organization: two new member accounts, three regions, deployed as infra/README.md says")
    accounts = world.create_organization("payments", "analytics")
    payments, analytics = accounts
    for account in [CENTRAL, *accounts]:
        for region in regions:
            approved_key(world, account, region, rotation=(account, region) != (analytics, "eu-west-1"))
    # A Region the analytics team started using after StackSet B was deployed: no stack instance, so no rule there.
    late = (analytics, "ap-southeast-2")
    trail = deploy_event_coverage(world, [CENTRAL, *accounts], regions, missing=late)
    world.put(payments, "ap-southeast-2", Type="NONE")
    world.put(analytics, "us-east-1", Type="KMS", KeyId="alias/aws/xray")
    world.client("xray", payments, "eu-west-1").update_trace_segment_destination(Destination="CloudWatchLogs")
    show("accounts", f"management/central {CENTRAL}, members {payments} (payments), {analytics} (analytics)")
    show("trail", f"{trail}: organization trail, multi-Region, logging, all management events (no event selectors)")
    show("rules", f"{FORWARDING_RULE} (role {FORWARDER_ROLE}) to the central bus, in every account and region")
    gap = f"{YELLOW}{late[0]} {late[1]}{RESET}"
    show("", f"but the bus's own and {gap} (first used after StackSet B was deployed: no instance there)")
    show("responder", f"on the central bus ({CENTRAL} {HOME_REGION}) the responder's own rule, to {RESPONDER}")
    show("drift", f"{payments} ap-southeast-2 set to NONE, {analytics} us-east-1 on the AWS-managed key,")
    show("", f"{payments} eu-west-1 Transaction Search on with aws/spans unencrypted")
    show("posture", f"{analytics} eu-west-1: its approved key was created without automatic rotation")
    world.create_central_table()

    step("10. The operator's audit, before (infra/README.md step 8, in the central account and Region)")
    settings = {"XRAY_GUARD_RESPONDER_FUNCTION": RESPONDER}  # so the central Region's own rule is read
    argv = ["audit", "--accounts", "org", "--regions", ",".join(regions)]
    # The command as the operator would type it, from the same settings and arguments the demo runs it with.
    command = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in settings.items()), "python -m chalicelib.cli"])
    command += f" {shlex.join(argv)}"
    print(f"   $ {command}")
    print(
        "   The COVERAGE column says whether an X-Ray change in that account and region reaches xray-guard as an"
        " event within minutes\n   (`events`: a logging trail records it and a rule carries it) or is found only by"
        " the next scheduled sweep (`sweep-only: <what is missing>`)."
    )
    code = audit(world, argv, settings)
    show("exit code", f"{code} (1 = drift found)")

    sweep_part(world, alerts, regions, settings)

    step("12. The audit, after the sweep")
    print(f"   $ {command}")
    code = audit(world, argv, settings)
    show("exit code", f"{code} (0 = all compliant)")
    # The same table again, with a stricter exit code each: not shown.
    code = audit(world, [*argv, "--require-key-posture"], settings, quiet=True)
    show("exit code", f"{code} with --require-key-posture (1 = a weak key posture: rotation off)")
    code = audit(world, [*argv, "--require-coverage"], settings, quiet=True)
    show("exit code", f"{code} with --require-coverage (1 = a region reaches xray-guard only at the sweep)")
    show("", f"the fix for {late[0]} {late[1]}: a StackSet B instance there (infra/README.md step 5)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--updating-seconds",
        type=float,
        default=1.0,
        help="how long X-Ray reports UPDATING after a change in the local AWS (default 1.0)",
    )
    args = parser.parse_args(argv)
    # The audit's garbage-collector setting for the whole story: the demo, like the audit, makes its calls over a
    # heap of loaded botocore models (and the emulator's state), which every full collection walks. Measured
    # (scratch: `main(["--updating-seconds", "0.2"])` with `gc.callbacks` timing each collection): the collector took
    # 1.4 s of the demo's 11 s of CPU with CPython's default thresholds, 0.7-0.8 s with this one.
    with fewer_collections(), LocalAWS(updating_seconds=args.updating_seconds) as aws:
        world = LocalWorld(aws)
        alerts = Alerts(world)
        LOG.parent.mkdir(exist_ok=True)
        with LOG.open("w") as log:
            configure_logging(log)
            print(f"{BOLD}xray-guard demo{RESET} on localaws at {aws.endpoint_url} (nothing leaves this machine)")
            print(f"{DIM}One JSON log line per decision goes to {LOG.relative_to(ROOT)}{RESET}")
            responder_part(world, alerts)
            spans_part(world, alerts)
            key_part(world, alerts)
            org_part(world, alerts)
        calls = aws.calls()
        print(f"\n{DIM}{len(calls)} AWS calls served by localaws during the demo.{RESET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
