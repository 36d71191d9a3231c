"""The operator's audit command: every account and region, its X-Ray encryption, and a verdict.

    xray-guard audit [--accounts org|ID,ID] [--regions all|R,R] [--format table|json|csv] [--fix --yes]
                     [--require-coverage] [--require-key-posture] [--parallel N]
    (or python -m chalicelib.cli audit ...)

Runs with the operator's own credentials (assuming the member role in other accounts), against localaws when
AWS_ENDPOINT_URL is set. Exit code: 0 all compliant, 1 drift found (with --require-coverage also: a region whose
events cannot be shown to reach xray-guard), 2 on error, and 2 when nothing was checked (no account or region: no
evidence is not a pass). Each approved key's posture (rotation, key policy) is read once per run, a key of another
account with its owner's credentials; it changes the exit code only with --require-key-posture (weak: 1, unknown:
2). Any failure, including a broken environment (bad configuration, endpoint, region, profile or credentials), is
one line on stderr and exit 2: never a traceback, and never 1, which a pipeline reads as "drift found".

The evidence says who produced it and with what: every JSON/CSV row carries the caller's ARN (`checked_by`, from the
run's one sts:GetCallerIdentity), `xray_guard_version` and the `approved_key` it was judged against; the table says
the same in its first line.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import traceback
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO

import botocore.session
from botocore.exceptions import BotoCoreError, InvalidRegionError, ProfileNotFound

from chalicelib import __version__
from chalicelib.coverage_policy import is_gap
from chalicelib.domain import Outcome, PostureStatus, Trigger, Verdict
from chalicelib.errors import AwsCallError, ConfigError, XrayGuardError
from chalicelib.findings import Finding
from chalicelib.gc_tuning import fewer_collections
from chalicelib.keyguard import posture_book
from chalicelib.kms import PostureBook
from chalicelib.runtime import audit_responder
from chalicelib.service import Responder
from chalicelib.sessions import session_from_env
from chalicelib.settings import Settings
from chalicelib.sweep import check_account, list_accounts, unreachable_coverage
from chalicelib.text import safe_text

EXIT_COMPLIANT, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
# Accounts checked at once, each with its (up to 17) regions on threads of its own. bench/audit.py finds the audit
# bound by its own CPU (mostly building each account's botocore clients), so more at once adds memory, not speed,
# unless AWS answers slowly.
DEFAULT_PARALLEL = 2
# Both trace stores: X-Ray's EncryptionConfig, then Transaction Search's aws/spans; `verdict` and `outcome` are the
# region's overall ones (README "Audit rows"); `coverage` says whether its events reach xray-guard.
COLUMNS = (
    "account",
    "region",
    "type",
    "key_id",
    "status",
    "spans_destination",
    "spans_key_id",
    "spans_verdict",
    "verdict",
    "outcome",
    "coverage",
    "key_posture",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xray-guard", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser("audit", help="report X-Ray encryption of every account and region")
    audit.add_argument("--accounts", help="'org' or ID,ID (default: XRAY_GUARD_ACCOUNTS, else own)")
    audit.add_argument("--regions", default="all", help="'all' enabled regions (default) or R,R")
    audit.add_argument("--key", help="approved key (default: XRAY_GUARD_KMS_KEY, else alias/xray-encryption)")
    audit.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="table (default), json, or csv evidence"
    )
    audit.add_argument("--json", action="store_true", help="same as --format json")
    audit.add_argument("--fix", action="store_true", help="revert drift to the approved key (verified)")
    audit.add_argument("--yes", action="store_true", help="confirm --fix")
    audit.add_argument(
        "--require-coverage",
        action="store_true",
        help="exit 1 also when a region's events cannot be shown to reach xray-guard (coverage other than 'events')",
    )
    audit.add_argument(
        "--parallel", type=_positive, default=DEFAULT_PARALLEL, metavar="N", help="accounts checked at once (default 2)"
    )
    audit.add_argument("--debug", action="store_true", help="on an unexpected error, also print the traceback")
    audit.add_argument(
        "--require-key-posture",
        action="store_true",
        help="a weak approved key posture exits 1, an unreadable one 2 (default: reported only)",
    )
    return parser


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def _reported(outcome: str) -> str:
    """The audit sends nothing: drift it only found is "reported", not "alerted" (both stores alike)."""
    return "reported" if outcome == Outcome.ALERTED.value else outcome


def row(finding: Finding) -> dict[str, Any]:
    state = finding.after or finding.before
    spans = finding.spans.to_json() if finding.spans else None
    if spans is not None:
        spans["outcome"] = _reported(spans["outcome"])
    return {
        "account": finding.account,
        "region": finding.region,
        "type": state.type.value if state else None,
        "key_id": state.key_arn if state else None,
        "status": state.status.value if state else None,
        **{f"spans_{part}": spans[part] if spans else None for part in ("destination", "status", "key_id", "verdict")},
        "verdict": finding.verdict.value,
        "outcome": _reported(finding.outcome.value),
        # Exactly "ok", "weak: <every problem>" or "unknown: <error>" (README "The key guard").
        "key_posture": finding.key.posture.render() if finding.key and finding.key.posture else None,
        "key": finding.key.to_json() if finding.key else None,
        "before": finding.to_json()["before"],
        "spans": spans,
        "checked_at": finding.observed_at,
        "detail": "; ".join(finding.facts()),
        "coverage": finding.coverage,
        # The key reference (alias, id or ARN) the region was judged against; key_arn is what it resolved to.
        "approved_key": finding.approved_key_ref,
    }


# Who produced the evidence and with what (Provenance): the CSV's last columns whatever its rows, so every earlier
# column keeps its position for consumers that read them by position.
PROVENANCE_COLUMNS = ("approved_key", "checked_by", "xray_guard_version")
# The evidence file's columns, in this order whatever its rows: an account that could not be checked (no stores, no
# key) has the same header as the rest, and a file of such rows lines up with any other audit's (README, "The audit
# command"). A field a later version adds to the rows without adding it here still gets a column, after these.
CSV_COLUMNS = (
    "account", "region", "type", "key_id", "status", "spans_destination", "spans_status", "spans_key_id",
    "spans_verdict", "verdict", "outcome", "key_posture", "key_arn", "key_state", "key_deletion_date",
    "key_event_name", "key_posture_status", "key_problems", "before_type", "before_key_id", "before_status",
    "spans_reason", "spans_before_destination", "spans_before_status", "spans_before_log_group_exists",
    "spans_before_key_id", "spans_after_destination", "spans_after_status", "spans_after_log_group_exists",
    "spans_after_key_id", "spans_outcome", "spans_detail", "checked_at", "detail", "coverage",
    *PROVENANCE_COLUMNS,
)  # fmt: skip
_FORMULA_LEAD = ("=", "+", "-", "@")


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON audit row as one level: nested objects' keys joined with `_` (before_type, spans_before_key_id, ...);
    a key already present keeps its first value (spans_destination is both a column and spans.destination)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            for sub, inner in flatten(value, f"{prefix}{key}_").items():
                flat.setdefault(sub, inner)
        else:
            flat.setdefault(prefix + key, json.dumps(value) if isinstance(value, list) else value)
    return flat


def csv_cell(value: object) -> str:
    """One CSV cell an auditor can open safely: printable, and never read as a formula by a spreadsheet (OWASP
    "CSV Injection": a leading =, +, - or @ is neutralised with a leading '; a leading tab or carriage return, the
    other two leads OWASP names, is already gone: `safe_text` shows every control character as an escape, `\\t`)."""
    text = "" if value is None else safe_text(value)
    return "'" + text if text.startswith(_FORMULA_LEAD) else text


def render_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Evidence for auditors: the JSON rows flattened into CSV_COLUMNS (README, "The audit command"). A nested
    object that is null (the stores and key of an account that could not be checked) leaves its columns empty."""
    flat = [flatten(r) for r in rows]
    extra = dict.fromkeys(k for r in flat for k, v in r.items() if k not in CSV_COLUMNS and v is not None)
    columns = [*CSV_COLUMNS, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[csv_cell(r.get(c)) for c in columns] for r in flat])
    return buffer.getvalue()


def account_error_row(account: str, error: AwsCallError) -> dict[str, Any]:
    """The row of an account that could not be checked at all (never skipped): every column, verdict `error`, and
    its coverage unknown (e.g. "unknown: AssumeRole denied")."""
    blank: dict[str, Any] = dict.fromkeys([*COLUMNS, "spans_status", "before", "spans", "key", "checked_at"])
    return {**blank, "account": account, "region": "*", "verdict": Verdict.ERROR.value,
            "outcome": Outcome.ERROR.value, "detail": str(error),
            "coverage": unreachable_coverage(error), "approved_key": None}  # fmt: skip


@dataclass(frozen=True)
class Provenance:
    """Who produced an audit's evidence, with what, and when: stamped on every JSON/CSV row (a CSV is often split or
    filtered, and each row must stand alone) and one line above the table."""

    checked_by: str  # the caller's ARN, from the run's one sts:GetCallerIdentity
    started_at: str
    approved_key: str  # XRAY_GUARD_KMS_KEY or --key
    key_overrides: Mapping[str, str]  # XRAY_GUARD_KMS_KEYS: region -> key reference
    version: str = __version__

    @classmethod
    def of(cls, responder: Responder, started_at: datetime) -> Provenance:
        settings = responder.settings
        return cls(
            checked_by=responder.clients.caller_arn(),
            started_at=started_at.isoformat(timespec="seconds"),
            approved_key=settings.kms_key,
            key_overrides=dict(settings.kms_keys),
        )

    def stamp(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row with `checked_by` and `xray_guard_version` last, so existing CSV columns keep their positions."""
        return {**row, "checked_by": self.checked_by, "xray_guard_version": self.version}

    def headline(self) -> str:
        overrides = ", ".join(f"{region}={ref}" for region, ref in sorted(self.key_overrides.items()))
        keys = f"{self.approved_key} (per Region: {overrides})" if overrides else self.approved_key
        who = f"xray-guard {self.version} audit by {self.checked_by} at {self.started_at}"
        return safe_text(f"{who}, approved key {keys}")


def exit_code(
    rows: Sequence[Mapping[str, Any]], *, require_coverage: bool = False, require_key_posture: bool = False
) -> int:
    """2 > 1 > 0 on encryption; with `require_coverage` a coverage gap is worth 1 too (never more); with
    `require_key_posture` a weak key posture is worth 1 and an unknown one 2. No rows at all is 2: nothing was
    checked, so there is no evidence that anything is compliant."""
    if not rows:
        return EXIT_ERROR
    failed = {Outcome.REVERT_FAILED.value, Outcome.ERROR.value}
    postures = {posture_status(r) for r in rows} if require_key_posture else set()
    if any(r["verdict"] == Verdict.ERROR.value or r["outcome"] in failed for r in rows):
        return EXIT_ERROR
    if PostureStatus.UNKNOWN in postures:
        return EXIT_ERROR
    if any(r["verdict"] != Verdict.COMPLIANT.value and r["outcome"] != Outcome.REVERTED.value for r in rows):
        return EXIT_DRIFT
    if require_coverage and any(is_gap(r.get("coverage")) for r in rows):
        return EXIT_DRIFT
    if PostureStatus.WEAK in postures:
        return EXIT_DRIFT
    return EXIT_COMPLIANT


def posture_status(row: Mapping[str, Any]) -> PostureStatus | None:
    """The approved key's posture in an audit row (None: not read, e.g. an account that could not be checked)."""
    status = (row.get("key") or {}).get("posture_status")
    return None if status is None else PostureStatus(status)


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    cells = [[safe_text(r.get(c) if r.get(c) is not None else "-") for c in COLUMNS] for r in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)  # the last column's padding is only trailing spaces


def audit(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO, sessions: Sessions | None = None
) -> int:
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
    responder = connect(settings, env, sessions)
    provenance = Provenance.of(responder, datetime.now(UTC))
    home = responder.clients.home_account()
    accounts = list_accounts(responder) if "XRAY_GUARD_ACCOUNTS" in values else [home]
    # Each key once per run, a key of another account with its owner's credentials; rotation is turned on only
    # with --fix and XRAY_GUARD_FIX_KEY_ROTATION=true.
    book = posture_book(responder, fix_rotation=args.fix and settings.fix_key_rotation, foreign_keys=True)
    rows: list[dict[str, Any]] = []
    with fewer_collections():
        for n, (account, account_rows) in enumerate(check_accounts(responder, accounts, args.parallel, book), 1):
            rows += [provenance.stamp(r) for r in account_rows]
            print(f"[{n}/{len(accounts)}] {account}: checked", file=err, flush=True)
    return report(rows, args, out, err, provenance)


NO_EVIDENCE = (
    "xray-guard audit: nothing was checked (0 accounts or regions: an empty organization listing, or every account "
    "filtered away): no evidence, so not a pass"
)


def report(
    rows: Sequence[Mapping[str, Any]],
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    provenance: Provenance | None = None,
) -> int:
    """Print the rows in the chosen format and return the exit code. Zero rows is an error (2), said on stderr: an
    audit that checked nothing is no evidence, and must not pass a pipeline gate as "all compliant". The table starts
    with the provenance line (JSON and CSV rows carry it in every row)."""
    output = "json" if args.json else args.format
    if output == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
    elif output == "csv":
        out.write(render_csv(rows))
    else:
        if provenance is not None:
            out.write(provenance.headline() + "\n\n")
        out.write(render_table(rows) + "\n")
        bad = [r for r in rows if r["verdict"] != Verdict.COMPLIANT.value]
        gaps = [r for r in rows if is_gap(r.get("coverage"))]
        out.write(
            f"\n{len(rows)} region(s) checked, {len(bad)} not compliant, {len(gaps)} with an event coverage gap.\n"
        )
        not_ok = {PostureStatus.WEAK, PostureStatus.UNKNOWN}
        weak = {(r["key"] or {}).get("arn") for r in rows if posture_status(r) in not_ok}
        if weak:
            out.write(f"{len(weak)} approved key(s) with a weak or unknown posture (KEY_POSTURE).\n")
    if not rows:
        print(NO_EVIDENCE, file=err)
    return exit_code(rows, require_coverage=args.require_coverage, require_key_posture=args.require_key_posture)


def check_accounts(
    responder: Responder, accounts: Sequence[str], parallel: int, posture: PostureBook | None = None
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The rows of each account, in the given order, checking up to `parallel` accounts at once (each with its
    regions in parallel). An account's clients and credentials are released as soon as it is done, so memory
    stays flat however many accounts there are."""

    def check(account: str) -> list[dict[str, Any]]:
        try:
            return [row(f) for f in check_account(responder, account, trigger=Trigger.AUDIT, posture=posture)]
        except AwsCallError as e:
            return [account_error_row(account, e)]
        finally:
            responder.clients.release(account)

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(accounts)))) as pool:
        # Only a window of accounts is submitted ahead (not all of them, as pool.map would): an interrupted audit
        # then waits for those few on its way out, not for every account of the organization.
        window: deque[tuple[str, Future[list[dict[str, Any]]]]] = deque()
        for account in accounts:
            window.append((account, pool.submit(check, account)))
            if len(window) >= 2 * parallel:
                done, future = window.popleft()
                yield done, future.result()
        while window:
            done, future = window.popleft()
            yield done, future.result()


class Sessions(NamedTuple):
    """botocore sessions to audit with instead of the ones built from the standard AWS variables, for a caller that
    holds its own (the tests' local world): ClientFactory's `base` and `members`."""

    base: botocore.session.Session
    members: botocore.session.Session


def connect(settings: Settings, env: Mapping[str, str], sessions: Sessions | None = None) -> Responder:
    """The audit's pipeline from the composition root, on the AWS environment in `env` (or on `sessions`), checked
    before any account is: the credentials resolve and are current, and sts:GetCallerIdentity answers through the
    configured endpoint and region. A broken environment is a ConfigError naming what is wrong and where it comes
    from."""
    try:
        session = sessions.base if sessions else session_from_env(env)
        _check_credentials(session)
        responder = audit_responder(settings, session, sessions.members if sessions else None)
        responder.clients.home_account()
    except ProfileNotFound as e:
        raise ConfigError(
            f"AWS profile {e.kwargs.get('profile')!r} (AWS_PROFILE) is not in the AWS config file "
            f"({env.get('AWS_CONFIG_FILE', '~/.aws/config')})"
        ) from e
    except InvalidRegionError as e:
        raise ConfigError(
            f"{e.kwargs.get('region_name')!r} is not a valid AWS region name "
            "(from AWS_DEFAULT_REGION or the profile's region)"
        ) from e
    except AwsCallError as e:
        raise ConfigError(_call_problem(e, env)) from e
    except BotoCoreError as e:
        raise ConfigError(f"AWS configuration: {e}") from e
    except ValueError as e:
        # botocore raises a bare ValueError ("Invalid endpoint: ...", urllib's "Invalid IPv6 URL") for an endpoint
        # it cannot use; it builds no client from anything else this early.
        raise ConfigError(f"the AWS endpoint URL is not usable ({e}): {_endpoint_source(env)}") from e
    return responder


NO_CREDENTIALS = (
    "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or sign in with `aws sso login`)"
)


def _check_credentials(session: botocore.session.Session) -> None:
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError(NO_CREDENTIALS)
    try:
        credentials.get_frozen_credentials()
    except RuntimeError as e:
        # botocore's refreshable credentials raise RuntimeError when a refresh still leaves them expired
        # (AWS_CREDENTIAL_EXPIRATION in the past, a stale credential_process or SSO cache).
        raise ConfigError(f"the AWS credentials have expired ({credentials.method}): {e}") from e


def _call_problem(error: AwsCallError, env: Mapping[str, str]) -> str:
    if error.code == "NoCredentialsError":
        return NO_CREDENTIALS
    # Assumption: STS answers an expired session token with ExpiredToken (json services say ExpiredTokenException,
    # EC2-style services RequestExpired); botocore's sts model names only ExpiredTokenException.
    if error.code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
        return f"the AWS credentials have expired: refresh them ({error})"
    if error.code in {"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"}:
        return f"cannot reach AWS ({error}): {_endpoint_source(env)}"
    return f"the AWS credentials do not work ({error})"


def _endpoint_source(env: Mapping[str, str]) -> str:
    configured = {var: value for var, value in env.items() if var.startswith("AWS_ENDPOINT_URL")}
    if not configured:
        return "no AWS_ENDPOINT_URL is set (check the profile's endpoint_url)"
    return ", ".join(f"{var}={value!r}" for var, value in sorted(configured.items()))


def main(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, sessions: Sessions | None = None
) -> int:
    args = _parser().parse_args(argv)
    try:
        return audit(args, os.environ if env is None else env, sys.stdout, sys.stderr, sessions)
    except XrayGuardError as e:
        print(f"xray-guard audit: {safe_text(e)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - an uncaught exception would exit 1, which means "drift found"
        print(f"xray-guard audit: unexpected error: {type(e).__name__}: {safe_text(e)}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
