"""Peak memory (RSS) of one Lambda invocation, each in a fresh process (`bench.invoke`): an event invocation
(import app, build the runtime, revert console-change-to-none.json, verified) and a `sweep_account` invocation
(one account × 17 regions, all compliant, result recorded in the sweeps table); and of a warm event container that
answers one change per account and region for WARM_ACCOUNTS accounts × WARM_REGIONS, in alert mode (Lambda reuses a
container for events of every member account: its memory must not grow with the accounts it has seen). The child's
peak RSS (VmHWM; see `bench.invoke` for why not ru_maxrss); a process that only imports boto3 is the peer.
Against localaws without injected latency.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.aws import (
    APPROVED_ALIAS,
    MEMBER,
    MEMBER_REGION,
    REGIONS,
    ROOT,
    LocalAWSProcess,
    child_env,
    guard_env,
)
from bench.report import Row, Section, times
from chalicelib.sweep import SweepStore
from chalicelib.table import TABLE_KEYS

TARGET_MIB = 128.0
SWEPT_ACCOUNT = "555555555555"
SWEEP_ID = "bench-memory"
TABLE = "xray-guard-sweeps"
# The sweep expects many accounts, so this one is an ordinary account, not the last one (that sends the digest).
TOTAL_FOR_DIGEST = 1000
WARM_ACCOUNTS = [f"7000000000{n:02d}" for n in range(50)]
WARM_REGIONS = REGIONS[:3]


def invoke(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.invoke", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def set_up(aws: LocalAWSProcess) -> dict[str, str]:
    """The member region drifted to NONE, one fully compliant account, the topic, the sweep queue and table."""
    aws.reset()
    world = aws.world
    world.create_topic()
    world.create_key(MEMBER, MEMBER_REGION)
    world.put(MEMBER, MEMBER_REGION, Type="NONE")
    for region in REGIONS:
        world.create_key(SWEPT_ACCOUNT, region)
        world.put(SWEPT_ACCOUNT, region, Type="KMS", KeyId=APPROVED_ALIAS)
    ddb = world.client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **TABLE_KEYS)
    SweepStore(lambda: ddb, TABLE).begin(SWEEP_ID, expected=TOTAL_FOR_DIGEST)
    for account in WARM_ACCOUNTS:
        for region in WARM_REGIONS:
            world.create_key(account, region)
            world.put(account, region, Type="NONE")
    queue = world.client("sqs").create_queue(QueueName="xray-guard-sweep")["QueueUrl"]
    return child_env(
        {
            **aws.env(),
            **guard_env(
                XRAY_GUARD_MODE="revert",
                XRAY_GUARD_REGIONS=",".join(REGIONS),
                XRAY_GUARD_SWEEP_QUEUE_URL=queue,
                XRAY_GUARD_SWEEP_TABLE=TABLE,
            ),
        }
    )


def run(aws: LocalAWSProcess) -> Section:
    started = time.perf_counter()
    env = set_up(aws)
    peer = invoke(env, "boto3")["peak_rss_mib"]
    event = invoke(env, "event")
    sweep = invoke(env, "sweep", SWEEP_ID, SWEPT_ACCOUNT)
    warm = invoke({**env, "XRAY_GUARD_MODE": "alert"}, "events", ",".join(WARM_REGIONS), *WARM_ACCOUNTS)
    changes = len(WARM_ACCOUNTS) * len(WARM_REGIONS)
    aws.reset()
    section = Section(
        "Peak memory of one invocation",
        "Each invocation in a fresh `python -m bench.invoke` process, calling the Chalice handler as Lambda does "
        "(`handler(event_dict, context)`, XRAY_GUARD_* and AWS_* from the environment); peak RSS = the child's "
        "VmHWM (/proc/self/status) after the invocation, in MiB. Not `ru_maxrss`: Linux keeps it across execve, "
        "so a child of the ~130 MiB benchmark process reports its parent's size.",
    )
    for label, answer, expect in (
        ("event invocation (revert, verified)", event, event["result"].get("outcome") == "reverted"),
        ("sweep_account worker (1 account × 17 regions)", sweep, sweep["result"][0].get("compliant") == len(REGIONS)),
        (
            f"warm event container, {changes} changes ({len(WARM_ACCOUNTS)} accounts × {len(WARM_REGIONS)} regions)",
            warm,
            warm["result"] == {"drift-none": changes},
        ),
    ):
        mib = answer["peak_rss_mib"]
        section.rows.append(
            Row(
                f"peak RSS: {label}",
                f"{mib:.0f} MiB" + ("" if expect else " (unexpected result!)"),
                f"bare import boto3: {peer:.0f} MiB",
                times(mib / peer),
                f"≤ {TARGET_MIB:g} MiB",
                expect and mib <= TARGET_MIB,
            )
        )
        section.details.append(f"- {label}: handler returned `{json.dumps(answer['result'])[:300]}`")
    section.seconds = time.perf_counter() - started
    return section
