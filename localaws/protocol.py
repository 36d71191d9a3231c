"""Reading AWS requests and writing AWS errors on the wire, driven by botocore's service models.

``AwsRequest.from_wsgi`` tells which service, region, operation and access key a request is for: service and
region come from the SigV4 credential scope, the operation from ``Action=`` (query and ec2 protocols),
``X-Amz-Target`` (json) or the model's ``http.method`` + ``http.requestUri`` (rest-json, rest-xml).
``error_response`` writes an error in the wire shape of the request's protocol so that botocore's parsers
(botocore/parsers.py) raise ``ClientError`` with the given code.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import botocore.loaders
import botocore.model
import botocore.regions
from botocore.exceptions import UnknownRegionError, UnknownServiceError
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

UNKNOWN = "Unknown"

# SigV4 signing names that differ from botocore's model names (for the services localaws is used with, the
# signing name *is* the model name; these cover the common exceptions).
_MODEL_NAME_BY_SIGNING_NAME = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "states": "stepfunctions",
    "tagging": "resourcegroupstaggingapi",
    "execute-api": "apigateway",
    "eventbridge": "events",
}

_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_LABEL = re.compile(r"\{([^}]+)\}")

# The emulator's own loader, not the process's shared one (chalicelib.sessions.shared_loader): an S3 client's first
# call of an operation rewrites that operation in the loader's cached model (botocore/handlers.py
# `remove_bucket_from_url_paths_from_model` strips "/{Bucket}" from its requestUri), and the emulator matches requests
# against the model as the service defines it (tried: test_call_log_names_service_operation_account_and_region then
# logs CreateBucket as Unknown).
_loader = botocore.loaders.Loader()


@functools.cache
def service_model(signing_name: str) -> botocore.model.ServiceModel | None:
    """botocore's model for a service, by the name it signs requests with; None when botocore has none."""
    name = _MODEL_NAME_BY_SIGNING_NAME.get(signing_name, signing_name)
    try:
        return botocore.model.ServiceModel(_loader.load_service_model(name, "service-2"), name)
    except UnknownServiceError:
        return None


@dataclass(frozen=True)
class AwsRequest:
    """One AWS API request, as far as localaws needs to understand it."""

    service: str
    region: str
    operation: str
    protocol: str
    access_key: str | None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wsgi(cls, environ: WSGIEnvironment, body: bytes) -> AwsRequest:
        """Identify a request from its WSGI environ and (already read) body."""
        scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region, service = scope.groups() if scope else (None, "us-east-1", "unknown")
        model = service_model(service)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        form = _form_params(environ, body)
        if target:
            return cls(service, region, target.rsplit(".", 1)[-1], "json", access_key, _json_params(body))
        if "Action" in form:
            protocol = "ec2" if model is not None and model.protocol == "ec2" else "query"
            return cls(service, region, form["Action"], protocol, access_key, form)
        if model is None:
            return cls(service, region, UNKNOWN, "json", access_key, {})
        protocol = model.protocol
        operation = _match_rest_operation(model, environ.get("REQUEST_METHOD", "GET"), environ)
        params = _json_params(body) if protocol != "rest-xml" else {}
        return cls(service, region, operation or UNKNOWN, protocol, access_key, params)

    def param(self, name: str) -> str | None:
        """A top-level string parameter of the request, if it has one."""
        value = self.params.get(name)
        return value if isinstance(value, str) else None


def error_status(service: str, code: str, default: int = 400) -> int:
    """The HTTP status the service's model gives an error code (``error.httpStatusCode``), or ``default``."""
    model = service_model(service)
    if model is not None:
        for shape in model.error_shapes:
            if code in (shape.name, shape.metadata.get("error", {}).get("code")):
                status = shape.metadata.get("error", {}).get("httpStatusCode")
                return int(status) if status is not None else default
    return default


def error_response(
    request: AwsRequest, code: str, message: str, status: int, members: Mapping[str, Any] | None = None
) -> Response:
    """An error the way the request's protocol writes one; botocore parses it into ``ClientError(code)``.
    `members`: further members of the error's shape (json and rest-json only), which botocore parses into the
    error response when the shape models them (botocore/parsers.py ResponseParser._do_modeled_error_parse)."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    text = escape(message)
    if request.protocol == "query":
        # botocore/parsers.py QueryParser._do_error_parse: <ErrorResponse><Error><Code>
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code><Message>{text}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(body, status, headers, content_type="text/xml")
    if request.protocol == "ec2":
        # botocore/parsers.py EC2QueryParser._do_error_parse: <Response><Errors><Error><Code>
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{text}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return Response(body, status, headers, content_type="text/xml")
    if request.protocol == "rest-xml":
        # botocore/parsers.py RestXMLParser._do_error_parse (the S3 form, <Error><Code>)
        body = f"<Error><Code>{escape(code)}</Code><Message>{text}</Message><RequestId>{request_id}</RequestId></Error>"
        return Response(body, status, headers, content_type="application/xml")
    # json: BaseJSONParser._do_error_parse reads "__type"; rest-json: RestJSONParser._inject_error_code reads
    # the x-amzn-ErrorType header first. Both accept "message" or "Message".
    headers["x-amzn-ErrorType"] = code
    model = service_model(request.service)
    if model is not None and model.metadata.get("awsQueryCompatible") is not None:
        # json services that used to speak query (SQS): botocore maps the code through this header.
        headers["x-amzn-query-error"] = f"{code};Sender"
    json_version = model.metadata.get("jsonVersion", "1.1") if model is not None else "1.1"
    content_type = "application/json" if request.protocol == "rest-json" else f"application/x-amz-json-{json_version}"
    document = {"__type": code, "message": message, **(members or {})}
    return Response(json.dumps(document), status, headers, content_type=content_type)


@dataclass(frozen=True)
class Partition:
    """A partition as botocore/data/endpoints.json describes it."""

    name: str  # as ARNs name it: aws, aws-cn, aws-us-gov, ...
    regions: tuple[str, ...]  # its Regions, sorted
    dns_suffix: str
    region_regex: str  # the names its later Regions will have


@functools.cache
def _endpoint_data() -> dict[str, Any]:
    data: dict[str, Any] = _loader.load_data("endpoints")
    return data


@functools.cache
def partitions() -> tuple[Partition, ...]:
    return tuple(
        Partition(p["partition"], tuple(sorted(p["regions"])), str(p["dnsSuffix"]), str(p["regionRegex"]))
        for p in _endpoint_data()["partitions"]
    )


@functools.cache
def _resolver() -> botocore.regions.EndpointResolver:
    return botocore.regions.EndpointResolver(_endpoint_data())


def partition_of(region: str) -> str:
    """The partition of a region, as botocore finds it (``Session.get_partition_for_region``, which chalicelib uses
    too: the first partition that lists the Region or whose regionRegex matches its name); aws when none does."""
    try:
        partition: str = _resolver().get_partition_for_region(region)
    except UnknownRegionError:
        return "aws"
    return partition


def json_response(document: Mapping[str, Any]) -> Response:
    """A 200 rest-json/json answer."""
    return Response(json.dumps(document), 200, {"x-amzn-RequestId": str(uuid.uuid4())}, content_type="application/json")


def _form_params(environ: WSGIEnvironment, body: bytes) -> dict[str, str]:
    params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _json_params(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]
    specificity: tuple[int, int]


@functools.cache
def _routes(model: botocore.model.ServiceModel) -> tuple[_Route, ...]:
    """One route per operation from ``http.method`` + ``http.requestUri`` (e.g. xray GetEncryptionConfig is
    ``POST /EncryptionConfig`` in botocore data/xray/2016-04-12/service-2.json)."""
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = str(http.get("requestUri", "/")).partition("?")
        regex, literal = "", 0
        for index, piece in enumerate(_LABEL.split(path)):
            if index % 2 == 0:
                regex += re.escape(piece)
                literal += len(piece)
            else:
                regex += "(.+)" if piece.endswith("+") else "([^/]+)"
        required = tuple((key, value or None) for key, _, value in (p.partition("=") for p in query.split("&") if p))
        routes.append(
            _Route(
                operation=name,
                method=str(http.get("method", "POST")),
                path=re.compile(regex.rstrip("/") + "/?"),
                query=required,
                specificity=(len(required), literal),
            )
        )
    return tuple(sorted(routes, key=lambda route: route.specificity, reverse=True))


def _match_rest_operation(model: botocore.model.ServiceModel, method: str, environ: WSGIEnvironment) -> str | None:
    path = environ.get("PATH_INFO", "/") or "/"
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    for route in _routes(model):
        if route.method != method or not route.path.fullmatch(path):
            continue
        if all(key in query and (value is None or query[key] == value) for key, value in route.query):
            return route.operation
    return None
