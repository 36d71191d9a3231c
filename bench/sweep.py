"""Organization sweep, 1,000 accounts × 17 regions, every AWS call delayed 50 ms: the concurrent sweep against the
remediation guide's serial loop, and against the ideal for the chosen concurrency.

In Lambda each account is one `sweep_account` invocation (SQS fan-out) and its regions run on a 17-thread pool.
Here N worker processes stand for N concurrent invocations (`bench.sweep_worker`: runtime built once, then the
real `check_account` per account) against the one localaws subprocess. Alert mode; in each account 16 regions
are compliant and one was never configured (drift-none); every account has its approved key in all 17 regions.

Scaled, and labelled so: moto spends ~45 ms of CPU per CreateKey (it makes an RSA key even for a symmetric key),
so 17,000 keys would take most of the time budget by themselves. The sweep runs on a measured sample of accounts
and its wall time is scaled by 1,000 / sample; the serial loop runs on a smaller sample and is scaled the same way.
The serial loop is the remediation guide's `for region in ...` loop in plain boto3, one region after the other, one
assumed-role session per account, making in each region the reads the sweep makes for the same answer: both trace
stores, the approved key and its posture, and the event coverage (`serial_loop`).
Ideal for N workers = ⌈1000 / N⌉ × one account's critical path × 50 ms, the path read from the sweep's own call
log (`critical_path`: AssumeRole, then the most calls made in one region; regions run at once), so a check that
adds calls counts in the ideal. Each concurrency runs 3 times; the median run is reported. Whether localaws keeps
up is read from its CPU time (/proc/PID/stat) and the machine's from /proc/stat during each run. One row models
Lambda, where invocations do not share CPU: ⌈1000 / N⌉ × the per-account time of a worker alone (not measured).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3

from bench import sweep_worker
from bench.aws import APPROVED_ALIAS, CENTRAL, REGIONS, ROOT, LocalAWSProcess, guard_env
from bench.report import Row, Section, times
from localaws.world import HOME_REGION, LocalWorld, local_session

TOTAL_ACCOUNTS = 1000
SAMPLE_ACCOUNTS = 40
SERIAL_ACCOUNTS = 3  # its time per account is nearly all latency: a few accounts show it
FIRST_ACCOUNT = 400_000_000_000
LATENCY_MS = 50.0
WORKERS = 8  # the headline concurrency: 8 invocations × 17 threads in flight
SCAN = ((1, 8), (2, SAMPLE_ACCOUNTS), (WORKERS, SAMPLE_ACCOUNTS))  # (workers, accounts swept)
REPEATS = 3  # runs per concurrency; the run with the median wall time is reported
TARGET = 25.0
CORES = len(os.sched_getaffinity(0))
EXPECTED_VERDICTS = tuple(sorted(["compliant"] * (len(REGIONS) - 1) + ["drift-none"]))


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far, from the first line of /proc/stat."""
    fields = [float(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True)
class SweepRun:
    workers: int
    results: list[sweep_worker.AccountResult]
    wall: float
    emulator_cpu: float
    machine_busy: float  # fraction of all cores busy during the run (everything on the machine)
    calls: list[dict[str, str]]  # localaws's call log of the run

    @property
    def scaled(self) -> float:
        return self.wall * TOTAL_ACCOUNTS / len(self.results)

    @property
    def emulator_share(self) -> float:
        """localaws's CPU use during the run, in cores."""
        return self.emulator_cpu / self.wall

    @property
    def per_account(self) -> float:
        return statistics.median(r.seconds for r in self.results)


def set_up_account(world: LocalWorld, account: str, index: int) -> None:
    """The approved key in every region, X-Ray on it except in region number `index` (mod 17)."""
    for position, region in enumerate(REGIONS):
        world.create_key(account, region)
        if position != index % len(REGIONS):
            world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)


def create_accounts(world: LocalWorld, accounts: list[str]) -> list[str]:
    """Set the accounts up (4 at a time), each with one region not configured; returns them."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: set_up_account(world, accounts[i], i), range(len(accounts))))
    return accounts


def serial_loop(world: LocalWorld, accounts: list[str]) -> float:
    """The guide's `for region in ...` loop in plain boto3, one assumed-role session per account like a CLI
    profile, making in each region, one after the other, the reads `check_account` makes there for the same answer
    in this world: X-Ray's config and the trace segment destination, aws/spans's log group, the approved key
    (DescribeKey of the alias) and its posture (rotation, key policy), and event coverage (the rules that target the
    central bus, the trails the region sees). Seconds for `accounts`. Its sessions share the world's loaded botocore
    models, so it pays less CPU than a script's fresh sessions would (the comparison favours the loop)."""
    began = time.perf_counter()
    operator = boto3.Session(botocore_session=local_session(world.endpoint_url)).client("sts")
    bus = f"arn:aws:events:{HOME_REGION}:{CENTRAL}:event-bus/default"
    for account in accounts:
        role = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        creds = operator.assume_role(RoleArn=role, RoleSessionName="audit")["Credentials"]
        base = local_session(
            world.endpoint_url,
            access_key=creds["AccessKeyId"],
            secret_key=creds["SecretAccessKey"],
            token=creds["SessionToken"],
        )
        session = boto3.Session(botocore_session=base)
        for region in REGIONS:
            xray = session.client("xray", region_name=region)
            logs = session.client("logs", region_name=region)
            kms = session.client("kms", region_name=region)
            events = session.client("events", region_name=region)
            cloudtrail = session.client("cloudtrail", region_name=region)
            xray.get_encryption_config()
            xray.get_trace_segment_destination()
            logs.describe_log_groups(logGroupNamePrefix="aws/spans")
            key = kms.describe_key(KeyId=APPROVED_ALIAS)["KeyMetadata"]["Arn"]
            kms.get_key_rotation_status(KeyId=key)  # takes a key id or ARN, not an alias (kms model)
            kms.list_key_policies(KeyId=key)
            kms.get_key_policy(KeyId=key, PolicyName="default")
            events.list_rule_names_by_target(TargetArn=bus)
            cloudtrail.describe_trails(includeShadowTrails=True)
    return time.perf_counter() - began


def critical_path(calls: list[dict[str, str]], home: str = CENTRAL) -> int:
    """Calls on one account's critical path, from a call log: AssumeRole plus the most calls made in one region of
    a member account (a region's calls follow one another; regions run at once). Calls of `home` (the central
    account: the runtime's own, the organization's list) and STS are left out."""
    per_region = Counter((c["account"], c["region"]) for c in calls if c["service"] != "sts" and c["account"] != home)
    return 1 + max(per_region.values(), default=0)


def concurrent_sweep(aws: LocalAWSProcess, workers: int, accounts: list[str]) -> SweepRun:
    """`workers` emulated invocations take the accounts one at a time, as SQS hands them out."""
    env = aws.env(**guard_env(XRAY_GUARD_MODE="alert", XRAY_GUARD_REGIONS=",".join(REGIONS)))
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    with context.Pool(workers, initializer=sweep_worker.start, initargs=(env, CENTRAL, ready)) as pool:
        ready.wait(timeout=300)  # cold starts are not part of the sweep time
        start = aws.call_count()
        cpu, machine, began = aws.cpu_seconds(), cpu_times(), time.perf_counter()
        results = list(pool.imap_unordered(sweep_worker.check, accounts, chunksize=1))
        wall = time.perf_counter() - began
        emulator_cpu = aws.cpu_seconds() - cpu
        busy, total = (after - before for after, before in zip(cpu_times(), machine, strict=True))
    return SweepRun(workers, results, wall, emulator_cpu, busy / total, aws.control.calls()[start:])


def ideal(workers: int, path_calls: int, accounts: int = TOTAL_ACCOUNTS) -> float:
    return math.ceil(accounts / workers) * path_calls * LATENCY_MS / 1000


def bottleneck(run: SweepRun, alone: SweepRun) -> str:
    """What limits a run: the emulator, the machine's cores, or (when neither is busy) AWS latency."""
    if run.emulator_share >= 0.85:
        return "localaws (a full core)"
    if run.machine_busy >= 0.85 or (run.machine_busy >= 0.6 and run.per_account >= 1.5 * alone.per_account):
        return f"CPU: accounts take {run.per_account / alone.per_account:.1f}× as long as alone"
    return "AWS latency and the worker's own CPU"


def sweep_memory_mb() -> int:
    """The sweep_account function's memory size in .chalice/config.json (its own, else the app's)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    own = config.get("lambda_functions", {}).get("sweep_account", {})
    return int(own.get("lambda_memory_size", config.get("lambda_memory_size", 128)))


def median_run(aws: LocalAWSProcess, workers: int, accounts: list[str]) -> tuple[SweepRun, list[float]]:
    runs = sorted((concurrent_sweep(aws, workers, accounts) for _ in range(REPEATS)), key=lambda r: r.wall)
    return runs[len(runs) // 2], [r.wall for r in runs]


def run(aws: LocalAWSProcess) -> Section:
    started = time.perf_counter()
    aws.reset()
    accounts = create_accounts(aws.world, [str(FIRST_ACCOUNT + i) for i in range(SAMPLE_ACCOUNTS)])
    setup = time.perf_counter() - started
    keys = SAMPLE_ACCOUNTS * len(REGIONS)

    aws.control.set_faults(latency_ms=LATENCY_MS)
    start = aws.call_count()
    serial = serial_loop(aws.world, accounts[:SERIAL_ACCOUNTS]) * TOTAL_ACCOUNTS / SERIAL_ACCOUNTS
    serial_reads = [f"{c['service']}:{c['operation']}" for c in aws.control.calls()[start:] if c["service"] != "sts"]
    serial_reads = serial_reads[: len(serial_reads) // (SERIAL_ACCOUNTS * len(REGIONS))]  # one region's
    scan = {workers: median_run(aws, workers, accounts[:count]) for workers, count in SCAN}
    aws.reset()

    runs = {workers: median for workers, (median, _) in scan.items()}
    headline, alone = runs[WORKERS], runs[1]
    path = critical_path(alone.calls)
    calls_per_account = len(alone.calls) / len(alone.results)
    wrong = sorted({r.account for run in runs.values() for r in run.results if r.verdicts != EXPECTED_VERDICTS})
    speedup = serial / headline.scaled
    projected = math.ceil(TOTAL_ACCOUNTS / WORKERS) * alone.per_account
    needed = math.ceil(TARGET * alone.per_account * TOTAL_ACCOUNTS / serial)
    cpu_alone = statistics.median(r.cpu_seconds for r in alone.results)
    memory_mb = sweep_memory_mb()

    section = Section(
        "Sweep of 1,000 accounts × 17 regions",
        f"localaws subprocess, latency {LATENCY_MS:g} ms per call; XRAY_GUARD_REGIONS = the 17 default regions, alert "
        "mode. Concurrent: N spawned worker processes = N concurrent `sweep_account` invocations, each building the "
        f"runtime once (not timed), then the real `check_account` per account; median of {REPEATS} runs. Sample: "
        f"{SAMPLE_ACCOUNTS} accounts (N=1: {SCAN[0][1]}), wall time × 1000/sample. Serial: {SERIAL_ACCOUNTS} "
        f"accounts × 17 regions one after the other, {len(serial_reads)} reads in each region (from the call log: "
        f"{', '.join(serial_reads)}), × 1000/{SERIAL_ACCOUNTS}. "
        f"Ideal: one account's critical path read from the N=1 run's call log: {path} calls (AssumeRole + the most "
        f"calls in one region), {calls_per_account:.0f} calls per account in all. Set-up of the sample: "
        f"{keys} keys + aliases + {keys - SAMPLE_ACCOUNTS} Puts in {setup:.0f} s ({keys / setup:.0f} keys/s: "
        f"{TOTAL_ACCOUNTS * len(REGIONS)} keys would take ~{TOTAL_ACCOUNTS * len(REGIONS) / (keys / setup) / 60:.0f}"
        " min, hence the sample).",
    )
    section.rows += [
        Row(
            f"sweep 1,000×17 here, N={WORKERS} workers on {CORES} cores (scaled from {len(headline.results)} accounts)",
            f"{headline.scaled:.0f} s",
            f"serial loop {serial:.0f} s (scaled from {SERIAL_ACCOUNTS} accounts)",
            f"{speedup:.1f}× faster",
            f"≥ {TARGET:g}× faster",
            speedup >= TARGET and not wrong,
        ),
        Row(
            f"same sweep vs ideal for N={WORKERS}",
            f"{headline.scaled:.0f} s",
            f"ideal {ideal(WORKERS, path):.1f} s (⌈1000/{WORKERS}⌉ × {path} × 50 ms)",
            times(headline.scaled / ideal(WORKERS, path)),
        ),
        Row(
            "one account × 17 regions, worker alone (N=1)",
            f"{alone.per_account:.2f} s",
            f"ideal {ideal(1, path, 1):.2f} s ({path} × 50 ms)",
            times(alone.per_account / ideal(1, path, 1)),
        ),
        Row(
            f"model, not measured: N={WORKERS} invocations, each with a core of its own",
            f"{projected:.0f} s (⌈1000/{WORKERS}⌉ × {alone.per_account:.2f} s)",
            f"serial loop {serial:.0f} s",
            f"{serial / projected:.1f}× faster",
        ),
    ]
    section.details += [
        "| workers N | accounts | wall (median; all runs) | scaled to 1,000 | ideal for N | per account (median) "
        "| worker CPU per account | localaws CPU | machine CPU (all processes) | bound by |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workers, (sweep, walls) in scan.items():
        section.details.append(
            f"| {workers} | {len(sweep.results)} | {sweep.wall:.1f} s; {', '.join(f'{w:.1f}' for w in walls)} "
            f"| {sweep.scaled:.0f} s | {ideal(workers, path):.1f} s | {sweep.per_account:.2f} s "
            f"| {statistics.median(r.cpu_seconds for r in sweep.results) * 1000:.0f} ms "
            f"| {sweep.emulator_share * 100:.0f}% of a core | {sweep.machine_busy * 100:.0f}% of {CORES} cores "
            f"| {bottleneck(sweep, alone)} |"
        )
    busiest = max(run.emulator_share for run in runs.values())
    verdicts = Counter(v for r in headline.results for v in r.verdicts)
    section.details += [
        "",
        f"localaws {'kept up' if busiest < 0.85 else 'did NOT keep up'}: at most {busiest * 100:.0f}% of a core in "
        f"any reported run. Verdicts of the N={WORKERS} run: {dict(verdicts)}; accounts with unexpected verdicts: "
        f"{wrong or 'none'}.",
        f"Serial loop: {serial / TOTAL_ACCOUNTS:.2f} s per account. A worker alone spends {alone.per_account:.2f} s "
        f"and ~{cpu_alone * 1000:.0f} ms of CPU per account; {TARGET:g}× the serial loop needs ≥ {needed} concurrent "
        f"invocations that do not share CPU, while here all workers share {CORES} cores. (Lambda gives a function "
        f"CPU in proportion to its memory, one vCPU at 1,769 MB: at the configured {memory_mb} MB that CPU time "
        f"alone would take ~{cpu_alone * 1769 / memory_mb:.1f} s per account.)",
    ]
    section.seconds = time.perf_counter() - started
    return section
