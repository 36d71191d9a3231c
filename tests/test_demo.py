"""`make demo` works on a fresh checkout: run it as a user would and check the story it tells."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_demo_runs_end_to_end() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        # X-Ray re-keys in 0.2 s instead of the demo's 1 s: the same story, the waits shorter.
        [sys.executable, "-m", "demo", "--updating-seconds", "0.2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Reverted to the approved key and VERIFIED" in out
    assert "Alert only, nothing changed: the actor is an exempt (break-glass) principal." in out
    assert "3 of 9 regions found non-compliant, 3 reverted, 0 account(s) failed" in out
    assert "exit code  0 (0 = all compliant)" in out
    assert "Associated the approved key with aws/spans and VERIFIED by re-read" in out
    assert "drift-spans-unencrypted" in out
    # The key guard: the approved key disabled, alerted critical in the same invocation (which returns normally),
    # then the all-clear once the owner enables it again; the audit flags a key created without rotation.
    disabled = out.index("SNS subject: [CRITICAL] X-Ray KMS key disabled in 222222222222 eu-west-1")
    returned = out.rindex('returned   {"decision": "key-unusable", "outcome": "alerted", "severity": "critical"', 0,
                          disabled)  # fmt: skip
    assert out.index("aws kms disable-key") < returned
    assert "X-Ray stops storing trace data" in out[disabled:]
    assert "aws kms enable-key --key-id arn:aws:kms:eu-west-1:222222222222:key/" in out[disabled:]
    assert out.index("subject: [INFO] X-Ray KMS key usable again in 222222222222 eu-west-1") > disabled
    audit_before = out[out.index("The operator's audit, before") : out.index("The scheduled sweep in revert mode")]
    assert audit_before.count("weak: automatic key rotation i") == 1
    assert "1 approved key(s) with a weak or unknown posture (KEY_POSTURE)." in audit_before
    assert "exit code  1 with --require-key-posture" in out
    # Event coverage: the organization deployed as infra/README.md says, but for one Region without its forwarding
    # rule: every other row proven `events`, that one named, in the digest too; --require-coverage turns it into 1.
    [(payments, analytics)] = re.findall(r"members (\d{12}) \(payments\), (\d{12}) \(analytics\)", out)
    gap = (analytics, "ap-southeast-2")
    expected = {
        (account, region): "sweep-only: no forwarding rule" if (account, region) == gap else "events"
        for account in ("123456789012", payments, analytics)
        for region in ("us-east-1", "eu-west-1", "ap-southeast-2")
    }
    command = (
        "$ XRAY_GUARD_RESPONDER_FUNCTION=xray-guard-prod-on_xray_encryption_change python -m chalicelib.cli audit"
        " --accounts org --regions us-east-1,eu-west-1,ap-southeast-2"
    )
    assert command in audit_before
    assert "--regions ..." not in out
    assert "The COVERAGE column says whether" in audit_before
    audit_after = out[out.index("The audit, after the sweep") :]
    for audit in (audit_before, audit_after):
        rows = [line for line in audit.splitlines() if re.match(r"\d{12}  ", line)]
        # The COVERAGE cell: two spaces either side separate the table's cells.
        coverage = {
            (row.split()[0], row.split()[1]): re.findall(r"  (events|sweep-only: no forwarding rule)  ", row)
            for row in rows
        }
        assert coverage == {place: [cell] for place, cell in expected.items()}
        assert "1 with an event coverage gap." in audit
    assert f"{analytics}  sweep-only: no forwarding rule  [ap-southeast-2]" in out
    assert "exit code  1 with --require-coverage" in audit_after
