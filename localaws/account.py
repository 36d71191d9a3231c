"""``account:ListRegions``, which moto 5.2.5 does not implement (moto/account/urls.py routes only the
alternate-contact operations).

Contract from botocore data/account/2021-02-01/service-2.json: ``POST /listRegions`` (rest-json) with optional
``AccountId``, ``MaxResults`` (1-50, shape ListRegionsRequestMaxResultsInteger), ``NextToken`` and
``RegionOptStatusContains``; answers ``Regions`` (``RegionName``, ``RegionOptStatus``) and ``NextToken``
(paginators-1.json: input/output token NextToken, limit MaxResults, result Regions).
"""

from __future__ import annotations

import functools

import botocore.loaders
from werkzeug.wrappers import Response

from localaws.protocol import AwsRequest, error_response, error_status, json_response

OPERATIONS = frozenset({"ListRegions"})

# Every region is reported ENABLED_BY_DEFAULT, opt-in regions (af-south-1, ap-east-1, ...) included, as this
# project asked. Real accounts report opt-in regions DISABLED until enabled, and moto's ec2 DescribeRegions
# marks them "not-opted-in" (and also lists the aws-cn and aws-us-gov regions), so the two lists differ.
_STATUS = "ENABLED_BY_DEFAULT"
_MAX_RESULTS = 50


@functools.cache
def aws_regions() -> tuple[str, ...]:
    """The regions of partition ``aws`` in botocore's endpoint data (botocore/data/endpoints.json)."""
    endpoints = botocore.loaders.Loader().load_data("endpoints")
    for partition in endpoints["partitions"]:
        if partition["partition"] == "aws":
            return tuple(sorted(partition["regions"]))
    return ()


def list_regions(request: AwsRequest) -> Response:
    params = request.params
    wanted = params.get("RegionOptStatusContains")
    regions = [name for name in aws_regions() if not wanted or _STATUS in wanted]
    max_results = params.get("MaxResults")
    token = params.get("NextToken")
    if max_results is not None and (not isinstance(max_results, int) or not 1 <= max_results <= _MAX_RESULTS):
        return _validation_error(request, f"MaxResults must be between 1 and {_MAX_RESULTS}")
    start = 0
    if token:
        if not isinstance(token, str) or not token.isdigit() or int(token) > len(regions):
            return _validation_error(request, "The NextToken is not valid")
        start = int(token)
    # Without MaxResults we answer everything in one page (the API reference gives no default page size).
    end = len(regions) if max_results is None else min(start + max_results, len(regions))
    document: dict[str, object] = {
        "Regions": [{"RegionName": name, "RegionOptStatus": _STATUS} for name in regions[start:end]]
    }
    if end < len(regions):
        document["NextToken"] = str(end)
    return json_response(document)


def _validation_error(request: AwsRequest, message: str) -> Response:
    # ValidationException is modelled for ListRegions; its status comes from the model (400 when unset).
    return error_response(request, "ValidationException", message, error_status("account", "ValidationException"))
