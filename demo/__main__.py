"""The demo a new user runs first: a console change to NONE in a member account is caught, reverted to the
approved key, verified ACTIVE and reported; then the same in alert mode and by a break-glass principal; the spans
store; the key guard (the approved key disabled: a critical alert in the same invocation, then the all-clear after
enable-key); then an organization: the audit table (a key with rotation off flagged), one sweep in revert mode with
its digest, and the audit table after.

Handlers are invoked exactly as Lambda invokes them: `handler(event_dict, context)`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import boto3
from moto.sns.models import sns_backends

import app
from chalicelib import cli, runtime
from chalicelib.log import configure_logging
from chalicelib.spans import logs_key_statement
from chalicelib.table import TABLE_KEYS
from localaws import LocalAWS, admin_session

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
LOG = ROOT / "build" / "demo-decisions.jsonl"
CENTRAL, MEMBER, REGION = "123456789012", "222222222222", "eu-west-1"
TOPIC = f"arn:aws:sns:us-east-1:{CENTRAL}:xray-guard-alerts"
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


def live(account: str, region: str) -> str:
    config = admin_session(account, region).client("xray").get_encryption_config()["EncryptionConfig"]
    key = config.get("KeyId")
    return f"{config['Type']} {config['Status']}" + (f" {key}" if key else " (AWS-owned key)")


def approved_key(account: str, region: str, *, rotation: bool = True) -> str:
    """Steps 1-3 of the remediation guide in one member account and region (rotation on, unless told not to)."""
    session = admin_session(account, region)
    kms = session.client("kms")
    root = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*", "Resource": "*"}  # fmt: skip
    policy = {"Version": "2012-10-17", "Statement": [root, logs_key_statement("aws", region, account, "amazonaws.com")]}
    arn: str = kms.create_key(
        Description="X-Ray trace encryption",
        Tags=[{"TagKey": "purpose", "TagValue": "xray-encryption"}],
        Policy=json.dumps(policy),
    )["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/xray-encryption", TargetKeyId=arn)
    if rotation:
        kms.enable_key_rotation(KeyId=arn.rsplit("/", maxsplit=1)[-1])
    session.client("xray").put_encryption_config(Type="KMS", KeyId="alias/xray-encryption")
    return arn


def published(after: int) -> list[dict[str, Any]]:
    """Messages published to the alert topic, read from moto's SNS backend (documented moto internal API)."""
    sent = sns_backends[CENTRAL]["us-east-1"].topics[TOPIC].sent_notifications[after:]
    return [{"subject": subject, **json.loads(message)} for _id, message, subject, _attrs, _group in sent]


def sent_count() -> int:
    return len(sns_backends[CENTRAL]["us-east-1"].topics[TOPIC].sent_notifications)


@contextmanager
def deployment(**env: str) -> Iterator[Any]:
    """A fresh Lambda container with this configuration (the env is the function's environment)."""
    base = {"XRAY_GUARD_KMS_KEY": "alias/xray-encryption", "XRAY_GUARD_TOPIC_ARN": TOPIC}
    saved = dict(os.environ)
    os.environ.update({**base, **env})
    runtime._lambda_runtime.cache_clear()
    try:
        yield app
    finally:
        os.environ.clear()
        os.environ.update(saved)
        runtime._lambda_runtime.cache_clear()


def show_alert(after: int) -> None:
    for message in published(after):
        print(f"\n   SNS subject: {BOLD}{message['subject']}{RESET}")
        box("email rendering", message["email"])
        chatbot = json.loads(message["default"])
        content = chatbot["content"]
        slack = f"*{content['title']}*\n{content['description']}\n" + "\n".join(
            f"• {s}" for s in content.get("nextSteps", [])
        )
        box("Slack rendering (Amazon Q Developer custom notification, client-markdown)", slack)


def responder_part() -> None:
    step(f"1. Member account {MEMBER}, {REGION}: the approved key (guide steps 1-3)")
    key = approved_key(MEMBER, REGION)
    show("key", key)
    while "UPDATING" in live(MEMBER, REGION):  # guide step 3: "may briefly read UPDATING while X-Ray re-keys"
        time.sleep(0.2)
    show("X-Ray", live(MEMBER, REGION))
    boto3.client("sns", region_name="us-east-1").create_topic(Name="xray-guard-alerts")
    show("alerts", f"SNS topic {TOPIC} (central account {CENTRAL})")

    step("2. Someone switches X-Ray to the default encryption in the console (Type NONE)")
    admin_session(MEMBER, REGION).client("xray").put_encryption_config(Type="NONE")
    show("X-Ray", f"{RED}{live(MEMBER, REGION)}{RESET}")
    event = json.loads((EVENTS / "console-change-to-none.json").read_text())
    show("event", f"CloudTrail {event['detail']['eventID']} via EventBridge (tests/events/console-change-to-none.json)")

    step("3. xray-guard in revert mode: on_xray_encryption_change(event, context)")
    mark = sent_count()
    with deployment(XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("X-Ray", f"{GREEN}{live(MEMBER, REGION)}{RESET}")
    show_alert(mark)

    step("4. The same drift in alert mode: reported, nothing changed")
    admin_session(MEMBER, REGION).client("xray").put_encryption_config(Type="NONE")
    mark = sent_count()
    with deployment(XRAY_GUARD_MODE="alert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("X-Ray", f"{YELLOW}{live(MEMBER, REGION)}{RESET}")
    print(f"   subject: {published(mark)[0]['subject']}")
    print(textwrap.indent("\n".join(line for line in published(mark)[0]["email"].splitlines()
                                    if line.startswith(("Action", "Verified"))), "   "))  # fmt: skip

    step("5. Revert mode, but the change was made by the break-glass role: alerted, never reverted")
    glass = json.loads((EVENTS / "break-glass-change-to-none.json").read_text())
    mark = sent_count()
    with deployment(
        XRAY_GUARD_MODE="revert", XRAY_GUARD_EXEMPT_PRINCIPALS="arn:aws:iam::*:role/SecurityBreakGlass"
    ) as app:
        result = app.on_xray_encryption_change(glass, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("X-Ray", f"{YELLOW}{live(MEMBER, REGION)}{RESET}")
    print(f"   subject: {published(mark)[0]['subject']}")
    email = published(mark)[0]["email"]
    print(textwrap.indent("\n".join(line for line in email.splitlines() if line.startswith(("Who", "Action"))), "   "))


def spans_part() -> None:
    step("6. Transaction Search: a developer sends every span to CloudWatch Logs (aws/spans), without a key")
    session = admin_session(MEMBER, REGION)
    session.client("xray").put_encryption_config(Type="KMS", KeyId="alias/xray-encryption")  # incident over
    while "UPDATING" in live(MEMBER, REGION):
        time.sleep(0.2)
    show("X-Ray", f"{live(MEMBER, REGION)} (restored after the break-glass incident)")
    session.client("xray").update_trace_segment_destination(Destination="CloudWatchLogs")
    show("spans", f"{RED}{spans_store(MEMBER, REGION)}{RESET}")
    event = json.loads((EVENTS / "transaction-search-enabled.json").read_text())
    show("event", f"CloudTrail {event['detail']['eventID']} (tests/events/transaction-search-enabled.json)")
    mark = sent_count()
    with deployment(XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    show("spans", f"{GREEN}{spans_store(MEMBER, REGION)}{RESET}")
    show("X-Ray", live(MEMBER, REGION))
    print(f"   subject: {published(mark)[0]['subject']}")
    email = published(mark)[0]["email"]
    print(
        textwrap.indent("\n".join(line for line in email.splitlines() if line.startswith(("Spans", "Action"))), "   ")
    )


def kms_event(fixture: str, key_arn: str) -> dict[str, Any]:
    """A real-shaped KMS CloudTrail event (tests/events/) about this key: the fixture's example key replaced."""
    example = "1234abcd-12ab-34cd-56ef-1234567890ab"
    text = (EVENTS / fixture).read_text().replace(f"arn:aws:kms:{REGION}:{MEMBER}:key/{example}", key_arn)
    event: dict[str, Any] = json.loads(text.replace(example, key_arn.rsplit("/", 1)[-1]))
    return event


def key_part() -> None:
    step("7. The key owner disables the approved key (the guide's revocation lever): X-Ray stops storing traces")
    kms = admin_session(MEMBER, REGION).client("kms")
    key = kms.describe_key(KeyId="alias/xray-encryption")["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=key)
    show("key", f"{RED}{key} Disabled{RESET} (aws kms disable-key)")
    event = kms_event("kms-disable-key.json", key)
    show("event", f"CloudTrail {event['detail']['eventID']} DisableKey (tests/events/kms-disable-key.json)")
    mark = sent_count()
    with deployment(XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    print(f"   {DIM}(the same invocation alerts; it does not fail, and xray-guard never re-enables a key){RESET}")
    show_alert(mark)

    step("8. The owner runs the undo command from the alert (aws kms enable-key): the all-clear")
    kms.enable_key(KeyId=key)
    event = kms_event("kms-enable-key.json", key)
    mark = sent_count()
    with deployment(XRAY_GUARD_MODE="revert") as app:
        result = app.on_xray_encryption_change(event, LambdaContext("on_xray_encryption_change"))
    show("returned", json.dumps(result))
    [clear] = published(mark)
    print(f"   subject: {clear['subject']}")
    print(textwrap.indent("\n".join(line for line in clear["email"].splitlines()
                                    if line.startswith(("Finding", "Key"))), "   "))  # fmt: skip


def spans_store(account: str, region: str) -> str:
    session = admin_session(account, region)
    destination = session.client("xray").get_trace_segment_destination()
    groups = session.client("logs").describe_log_groups(logGroupNamePrefix="aws/spans")["logGroups"]
    key = next((g.get("kmsKeyId") for g in groups if g["logGroupName"] == "aws/spans"), None)
    return f"destination {destination['Destination']} ({destination['Status']}), aws/spans " + (
        f"on {key}" if key else "WITHOUT a KMS key (CloudWatch Logs default)"
    )


def org_part() -> None:
    regions = "us-east-1,eu-west-1,ap-southeast-2"
    step("9. An organization: two new member accounts, three regions, the sweep infrastructure")
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    accounts = [
        org.create_account(AccountName=n, Email=f"{n}@example.com")["CreateAccountStatus"]["AccountId"]
        for n in ("payments", "analytics")
    ]
    payments, analytics = accounts
    for account in [CENTRAL, *accounts]:
        for region in regions.split(","):
            approved_key(account, region, rotation=(account, region) != (analytics, "eu-west-1"))
    admin_session(payments, "ap-southeast-2").client("xray").put_encryption_config(Type="NONE")
    admin_session(analytics, "us-east-1").client("xray").put_encryption_config(Type="KMS", KeyId="alias/aws/xray")
    admin_session(payments, "eu-west-1").client("xray").update_trace_segment_destination(Destination="CloudWatchLogs")
    show("accounts", f"management/central {CENTRAL}, members {payments} (payments), {analytics} (analytics)")
    show("drift", f"{payments} ap-southeast-2 set to NONE, {analytics} us-east-1 on the AWS-managed key,")
    show("", f"{payments} eu-west-1 Transaction Search on with aws/spans unencrypted")
    show("posture", f"{analytics} eu-west-1: its approved key was created without automatic rotation")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="xray-guard-sweeps",
        BillingMode="PAY_PER_REQUEST",
        **TABLE_KEYS,
    )
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="xray-guard-sweep")["QueueUrl"]

    step("10. The operator's audit, before: python -m chalicelib.cli audit --accounts org --regions ...")
    code = cli.main(["audit", "--accounts", "org", "--regions", regions], env=dict(os.environ))
    show("exit code", f"{code} (1 = drift found)")

    step("11. The scheduled sweep in revert mode: scheduled_sweep → SQS → sweep_account per account → one digest")
    mark = sent_count()
    with deployment(
        XRAY_GUARD_MODE="revert", XRAY_GUARD_ACCOUNTS="org", XRAY_GUARD_REGIONS=regions,
        XRAY_GUARD_SWEEP_QUEUE_URL=queue, XRAY_GUARD_SWEEP_TABLE="xray-guard-sweeps",
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
    digest = published(mark)[0]
    print(f"\n   SNS subject: {BOLD}{digest['subject']}{RESET}")
    box("digest email rendering", digest["email"])

    step("12. The audit, after the sweep")
    code = cli.main(["audit", "--accounts", "org", "--regions", regions], env=dict(os.environ))
    show("exit code", f"{code} (0 = all compliant)")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # the same table again: not shown
        code = cli.main(["audit", "--accounts", "org", "--regions", regions, "--require-key-posture"],
                        env=dict(os.environ))  # fmt: skip
    show("exit code", f"{code} with --require-key-posture (1 = a weak key posture: rotation off)")


def main() -> int:
    with LocalAWS(updating_seconds=1.0) as aws:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        LOG.parent.mkdir(exist_ok=True)
        with LOG.open("w") as log:
            configure_logging(log)
            print(f"{BOLD}xray-guard demo{RESET} on localaws at {aws.endpoint_url} (nothing leaves this machine)")
            print(f"{DIM}One JSON log line per decision goes to {LOG.relative_to(ROOT)}{RESET}")
            responder_part()
            spans_part()
            key_part()
            org_part()
        calls = aws.calls()
        print(f"\n{DIM}{len(calls)} AWS calls served by localaws during the demo.{RESET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
