"""The SAM transform, offline: turns the packaged template (build/package/sam.json) into the plain CloudFormation
that CloudFormation itself would run, so cfn-lint checks what is deployed rather than the SAM shorthand.

cfn-lint 1.x validates SAM resources against SAM schemas and no longer runs the transform; the transform is
AWS's own library (aws-sam-translator, pinned in requirements-dev.txt). No AWS call is made: our functions name
their roles, so no managed-policy names need resolving (the map stays empty). The local code path (`CodeUri:
./deployment.zip`) is replaced by an S3 URI, as `aws cloudformation package` does before a real deployment
(`make deploy-central`); the translator accepts only S3 URIs there.

    python -m infra.sam_transform build/package/sam.json build/package/cloudformation.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

# Where `aws cloudformation package` would have uploaded the zip; only its form matters to the transform.
PLACEHOLDER_CODE_URI = "s3://artifact-bucket/deployment.zip"


class TransformError(Exception):
    """The SAM template could not be transformed (the message is the translator's)."""


def transform(sam_template: dict[str, Any], region: str | None = None) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of `sam_template` (which is not modified).

    The translator fills the pseudo parameters from a session's Region (default: AWS_DEFAULT_REGION); the
    output keeps ${AWS::Partition} / ${AWS::Region} wherever ARNs are built, so any Region gives the same text.
    """
    source = json.loads(json.dumps(sam_template))  # the translator edits its input in place
    for resource in source.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith(
            "s3://"
        ):
            properties["CodeUri"] = PLACEHOLDER_CODE_URI
    try:
        translator = Translator({}, Parser(), boto_session=boto3.Session(region_name=region))
        result: dict[str, Any] = translator.translate(source, parameter_values={}, get_managed_policy_map=dict)
    except Exception as e:  # the translator raises its own exception tree; one typed error out
        raise TransformError(f"SAM transform failed: {e}") from e
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m infra.sam_transform SAM_TEMPLATE OUTPUT", file=sys.stderr)
        return 2
    source, target = (Path(a) for a in argv)
    try:
        template = transform(json.loads(source.read_text()))
    except (OSError, ValueError, TransformError) as e:
        print(f"{source}: {e}", file=sys.stderr)
        return 1
    target.write_text(json.dumps(template, indent=2) + "\n")
    print(f"{target}: {len(template['Resources'])} resources after the SAM transform")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
