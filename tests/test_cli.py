"""The audit command on a broken environment: one line naming the problem and exit 2, never a traceback and never
exit 1 ("drift found"). Every case runs `cli.main(argv, env=...)` with its own environment mapping; the process
environment is not touched (the localaws fixture sets it for the other tests, and the mapping must win over it)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from chalicelib import cli
from chalicelib.sessions import session_from_env
from tests.conftest import CENTRAL, World

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, and no test below may get as far as calling it
QUIET: dict[str, str] = {
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookup for credentials on this machine
}
WORKING: dict[str, str] = {
    **QUIET,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": CLOSED,
}


def run(capsys: pytest.CaptureFixture[str], env: Mapping[str, str], *args: str) -> tuple[int, str]:
    code = cli.main(["audit", "--regions", "us-east-1", *args], env=env)
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


def assert_one_line(err: str, *expected: str) -> None:
    assert err.endswith("\n")
    [line] = err.splitlines()
    assert line.startswith("xray-guard audit: ")
    assert "Traceback" not in err
    for text in expected:
        assert text in line


def without(env: Mapping[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({**WORKING, "AWS_ENDPOINT_URL": "localhost:4566"}, ["endpoint URL", "AWS_ENDPOINT_URL='localhost:4566'"]),
        ({**WORKING, "AWS_ENDPOINT_URL": "http://[::1"}, ["endpoint URL", "Invalid IPv6 URL"]),
        ({**WORKING, "AWS_ENDPOINT_URL_STS": "sts.local"}, ["endpoint URL", "AWS_ENDPOINT_URL_STS='sts.local'"]),
        ({**WORKING, "AWS_DEFAULT_REGION": "eu west 1"}, ["'eu west 1' is not a valid AWS region name"]),
        ({**WORKING, "AWS_DEFAULT_REGION": "../../etc"}, ["'../../etc' is not a valid AWS region name"]),
        ({**WORKING, "AWS_PROFILE": "prod-admin"}, ["AWS profile 'prod-admin' (AWS_PROFILE)", "/dev/null"]),
        (without(WORKING, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), ["no AWS credentials found"]),
        (without(WORKING, "AWS_SECRET_ACCESS_KEY"), ["Partial credentials", "AWS_SECRET_ACCESS_KEY"]),
        (
            {**WORKING, "AWS_SESSION_TOKEN": "token", "AWS_CREDENTIAL_EXPIRATION": "2020-01-01T00:00:00Z"},
            ["the AWS credentials have expired (env)"],
        ),
    ],
    ids=[
        "endpoint-no-scheme",
        "endpoint-bad-ipv6",
        "service-endpoint",
        "region-with-spaces",
        "region-path",
        "unknown-profile",
        "no-credentials",
        "partial-credentials",
        "expired-credentials",
    ],
)
def test_a_broken_aws_environment_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], env: dict[str, str], expected: list[str]
) -> None:
    code, err = run(capsys, env)

    assert code == cli.EXIT_ERROR
    assert_one_line(err, *expected)


def test_an_unknown_profile_is_named_with_the_config_file_that_lacks_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n\n[profile prod]\nregion = eu-west-1\n")

    code, err = run(capsys, {**WORKING, "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "prd"})

    assert code == cli.EXIT_ERROR
    assert_one_line(err, "AWS profile 'prd'", str(config))


def test_credentials_the_service_calls_expired_are_one_line_and_exit_2(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Assumption (no AWS account here): STS answers a call signed with an expired session token with the error
    # code ExpiredToken; localaws injects exactly that answer.
    world.aws.set_faults(fail=["sts:GetCallerIdentity=ExpiredToken"])

    code, err = run(capsys, {**WORKING, "AWS_ENDPOINT_URL": world.aws.endpoint_url})

    assert code == cli.EXIT_ERROR
    assert_one_line(err, "the AWS credentials have expired", "ExpiredToken")
    assert [c["operation"] for c in world.calls()] == ["GetCallerIdentity"]  # nothing else was tried


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"XRAY_GUARD_MOD": "revert"}, ["XRAY_GUARD_MOD: unknown variable (closest known: XRAY_GUARD_MODE)"]),
        ({"XRAY_GUARD_KMS_KEY": "alias/aws/xray"}, ["XRAY_GUARD_KMS_KEY: alias/aws/xray is an AWS managed key"]),
        ({"XRAY_GUARD_ACOUNTS": "org"}, ["closest known: XRAY_GUARD_ACCOUNTS"]),
    ],
)
def test_configuration_errors_stop_the_audit_before_any_aws_call(
    world: World, capsys: pytest.CaptureFixture[str], variables: dict[str, str], expected: list[str]
) -> None:
    code, err = run(capsys, {**WORKING, "AWS_ENDPOINT_URL": world.aws.endpoint_url, **variables})

    assert code == cli.EXIT_ERROR
    assert_one_line(err, "invalid xray-guard configuration", *expected)
    assert world.calls() == []


def test_the_key_option_gets_the_same_refusal(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, {**WORKING, "AWS_ENDPOINT_URL": world.aws.endpoint_url}, "--key", "alias/aws/xray")

    assert code == cli.EXIT_ERROR
    assert_one_line(err, "alias/aws/xray is an AWS managed key alias")
    assert world.calls() == []


def test_a_working_environment_from_the_mapping_audits(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.create_key(CENTRAL, "us-east-1")
    world.put(CENTRAL, "us-east-1", Type="KMS", KeyId="alias/xray-encryption")

    code = cli.main(["audit", "--regions", "us-east-1"], env={**WORKING, "AWS_ENDPOINT_URL": world.aws.endpoint_url})

    captured = capsys.readouterr()
    assert code == cli.EXIT_COMPLIANT, captured.err  # no rule and no trail there: a coverage gap, still exit 0
    assert "1 region(s) checked, 0 not compliant, 1 with an event coverage gap." in captured.out


def test_the_session_reads_the_mapping_not_the_process_environment(world: World) -> None:
    """The localaws fixture has set AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and credentials in os.environ."""
    assert os.environ["AWS_ENDPOINT_URL"] == world.aws.endpoint_url
    env = {
        **QUIET,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:2",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "AWS_ACCESS_KEY_ID": "from-the-mapping",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }

    session = session_from_env(env)
    sts = session.create_client("sts", region_name=session.get_config_variable("region"))
    kms = session.create_client("kms", region_name="eu-west-1")

    assert (sts.meta.endpoint_url, sts.meta.region_name) == ("http://127.0.0.1:1", "ap-southeast-2")
    assert kms.meta.endpoint_url == "http://127.0.0.1:2"
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.access_key == "from-the-mapping"
    assert session_from_env(QUIET).get_credentials() is None  # os.environ's credentials are not picked up


def test_an_unexpected_failure_is_still_exit_2_not_1(capsys: pytest.CaptureFixture[str]) -> None:
    """An uncaught exception would exit 1, which means "drift found". A mapping whose values are not strings is
    not an environment anything expects: whatever breaks, the answer is one line and 2."""
    env: dict[str, object] = {**WORKING, "AWS_DEFAULT_REGION": 1234}

    code = cli.main(["audit"], env=env)  # type: ignore[arg-type]

    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    assert_one_line(err, "unexpected error: TypeError")


def test_the_audit_table_neutralizes_what_it_prints() -> None:
    hostile = "arn:aws:kms:eu-west-1:222222222222:key/\x1b[2J\x1b[32mcompliant\r\n\u202eevil\u2028x"
    rows = [
        {"account": "222222222222", "region": "eu-west-1", "type": "KMS", "key_id": hostile, "status": "ACTIVE",
         "verdict": "drift-other-key", "outcome": "reported"},
    ]  # fmt: skip

    table = cli.render_table(rows)

    lines = table.split("\n")
    assert len(lines) == 2
    assert all(line.isprintable() for line in lines)
    assert "\\x1b[2J\\x1b[32mcompliant\\r\\n\\u202eevil\\u2028x" in lines[1]


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1+1", "\\t=1+1"), ("\r-1", "\\r-1"), ("a=b", "a=b")],
)
def test_a_csv_cell_never_starts_a_formula(value: str, cell: str) -> None:
    """A formula lead gets a ', and a leading tab or carriage return (OWASP's other two leads) is shown as an escape,
    so the cell starts with a backslash: no spreadsheet reads either as a formula."""
    assert cli.csv_cell(value) == cell


def test_csv_evidence_is_flat_ordered_and_safe_to_open() -> None:
    rows = [
        {"account": "222222222222", "region": "eu-west-1", "type": "KMS", "key_id": "=HYPERLINK(\"http://x\")",
         "verdict": "drift-other-key", "outcome": "reported", "before": {"type": "NONE", "key_id": None},
         "spans": {"destination": "XRay", "before": {"key_id": "+1"}}, "detail": "-2\tx", "checked_at": "t"},
    ]  # fmt: skip

    text = cli.render_csv(rows)

    [cells] = list(csv.DictReader(io.StringIO(text)))
    assert list(cells) == list(cli.CSV_COLUMNS)  # the documented columns, in order, whatever the row holds
    assert cells["key_id"] == '\'=HYPERLINK("http://x")'  # never a formula in a spreadsheet
    assert cells["spans_before_key_id"] == "'+1"
    assert cells["detail"].startswith("'-2")
    assert (cells["before_type"], cells["spans_destination"], cells["status"]) == ("NONE", "XRay", "")
    line = text.splitlines()[1]
    assert "\t" not in line


@pytest.mark.parametrize("output", ["table", "json", "csv"])
def test_an_audit_that_checked_nothing_is_exit_2_with_a_reason(output: str) -> None:
    """An empty organization listing (or every account filtered away) is no evidence: never exit 0 in a gate."""
    args = cli._parser().parse_args(["audit", "--accounts", "org", "--format", output])
    out, err = io.StringIO(), io.StringIO()

    code = cli.report([], args, out, err)

    assert code == cli.EXIT_ERROR
    assert cli.exit_code([], require_coverage=True, require_key_posture=True) == cli.EXIT_ERROR
    [line] = err.getvalue().splitlines()
    assert line.startswith("xray-guard audit: nothing was checked")
    assert "no evidence" in line


def test_an_audit_with_rows_says_nothing_on_stderr() -> None:
    args = cli._parser().parse_args(["audit", "--json"])
    rows = [{"account": "222222222222", "region": "eu-west-1", "verdict": "compliant", "outcome": "compliant"}]
    out, err = io.StringIO(), io.StringIO()

    assert cli.report(rows, args, out, err) == cli.EXIT_COMPLIANT
    assert err.getvalue() == ""
    assert json.loads(out.getvalue()) == rows


def test_the_audit_table_has_no_trailing_padding() -> None:
    rows = [
        {"account": "222222222222", "region": "eu-west-1", "verdict": "compliant", "key_posture": "ok"},
        {"account": "222222222222", "region": "us-east-1", "verdict": "compliant",
         "key_posture": "weak: automatic key rotation is off"},
    ]  # fmt: skip

    lines = cli.render_table(rows).split("\n")

    assert [line.rstrip() for line in lines] == lines
    assert lines[1].endswith("  ok")


def test_sessions_handed_to_the_command_are_used_and_the_environments_aws_variables_are_not(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cli.main(..., sessions=...)`: the audit calls AWS through those sessions (the tests' local world), so an
    environment whose endpoint nothing listens on still audits; its other settings are read as ever."""
    code = cli.main(
        ["audit", "--regions", "us-east-1", "--json"],
        env={**WORKING, "XRAY_GUARD_KMS_KEY": "alias/not-the-default"},
        sessions=world.audit_sessions(),
    )

    [row] = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_DRIFT  # the home account's default NONE configuration
    assert (row["account"], row["region"], row["approved_key"]) == (CENTRAL, "us-east-1", "alias/not-the-default")
    assert [c["operation"] for c in world.calls()][:1] == ["GetCallerIdentity"]
