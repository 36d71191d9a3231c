"""The operator's audit command: every account and region, its X-Ray encryption, and a verdict.

    python -m chalicelib.cli audit [--accounts org|ID,ID] [--regions all|R,R] [--json] [--fix --yes]

Runs with the operator's own credentials (assuming the member role in other accounts), against localaws when
AWS_ENDPOINT_URL is set. Exit code: 0 all compliant, 1 drift found, 2 on error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from chalicelib.domain import Outcome, Verdict
from chalicelib.errors import AwsCallError, XrayGuardError
from chalicelib.findings import Finding
from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from chalicelib.sweep import check_account, list_accounts

EXIT_COMPLIANT, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
COLUMNS = ("account", "region", "type", "key_id", "status", "verdict", "outcome")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser("audit", help="report X-Ray encryption of every account and region")
    audit.add_argument("--accounts", help="'org' or ID,ID (default: XRAY_GUARD_ACCOUNTS, else own)")
    audit.add_argument("--regions", default="all", help="'all' enabled regions (default) or R,R")
    audit.add_argument("--key", help="approved key (default: XRAY_GUARD_KMS_KEY, else alias/xray-encryption)")
    audit.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    audit.add_argument("--fix", action="store_true", help="revert drift to the approved key (verified)")
    audit.add_argument("--yes", action="store_true", help="confirm --fix")
    return parser


def row(finding: Finding) -> dict[str, Any]:
    state = finding.after or finding.before
    return {
        "account": finding.account,
        "region": finding.region,
        "type": state.type.value if state else None,
        "key_id": state.key_arn if state else None,
        "status": state.status.value if state else None,
        "verdict": finding.verdict.value,
        # The audit sends nothing: drift it only found is "reported" here, not "alerted".
        "outcome": "reported" if finding.outcome is Outcome.ALERTED else finding.outcome.value,
        "before": finding.to_json()["before"],
        "detail": finding.detail or finding.reason,
    }


def exit_code(rows: Sequence[Mapping[str, Any]]) -> int:
    if any(r["verdict"] == Verdict.ERROR.value or r["outcome"] == Outcome.REVERT_FAILED.value for r in rows):
        return EXIT_ERROR
    if any(r["verdict"] != Verdict.COMPLIANT.value and r["outcome"] != Outcome.REVERTED.value for r in rows):
        return EXIT_DRIFT
    return EXIT_COMPLIANT


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    cells = [[str(r[c] if r[c] is not None else "-") for c in COLUMNS] for r in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def audit(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    if args.fix and not args.yes:
        print("refusing to --fix without --yes: it writes PutEncryptionConfig in every drifted region", file=err)
        return EXIT_ERROR
    values = dict(env)
    values["XRAY_GUARD_MODE"] = "revert" if args.fix else "alert"
    values.setdefault("XRAY_GUARD_KMS_KEY", "alias/xray-encryption")
    if args.key:
        values["XRAY_GUARD_KMS_KEY"] = args.key
    if args.accounts:
        values["XRAY_GUARD_ACCOUNTS"] = args.accounts
    values["XRAY_GUARD_REGIONS"] = "" if args.regions == "all" else args.regions
    settings = Settings.from_env(values, required=())
    clients = ClientFactory(settings.member_role)
    responder = Responder(settings, clients)
    accounts = list_accounts(responder) if "XRAY_GUARD_ACCOUNTS" in values else [clients.home_account()]
    rows: list[dict[str, Any]] = []
    for n, account in enumerate(accounts, 1):
        try:
            rows += [row(f) for f in check_account(responder, account, trigger="audit")]
        except AwsCallError as e:
            rows.append(
                {"account": account, "region": "*", "type": None, "key_id": None, "status": None,
                 "verdict": Verdict.ERROR.value, "outcome": Outcome.ERROR.value, "before": None, "detail": str(e)}
            )  # fmt: skip
        print(f"[{n}/{len(accounts)}] {account}: checked", file=err, flush=True)
    if args.json:
        json.dump(rows, out, indent=2)
        out.write("\n")
    else:
        out.write(render_table(rows) + "\n")
        bad = [r for r in rows if r["verdict"] != Verdict.COMPLIANT.value]
        out.write(f"\n{len(rows)} region(s) checked, {len(bad)} not compliant.\n")
    return exit_code(rows)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return audit(args, os.environ if env is None else env, sys.stdout, sys.stderr)
    except (XrayGuardError, AwsCallError) as e:
        print(f"xray-guard audit: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
