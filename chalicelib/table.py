"""The central DynamoDB table (partition key `sweep_id`, sort key `item`, TTL attribute `expires_at`), one adapter for
its three tenants: the sweep fan-in (`<sweep id>` partitions), storm control (`storm#<hour>`) and delivery records
(`delivery#<event id>#<decisions>`). Each tenant's IAM grant is limited to its own leading keys (dynamodb:LeadingKeys).

The client comes from the given function on each use (`functools.partial(clients.home_dynamodb, region)`: made on
first use, so a cold start that never touches the table does not pay for a client). Errors are AwsCallError, as
from every adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.sessions import call_aws, paginate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]

# The table's keys (infra/central.json declares the same; the demo and tests create it from here).
TABLE_KEYS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "sweep_id", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "sweep_id", "AttributeType": "S"},
        {"AttributeName": "item", "AttributeType": "S"},
    ],
}


def key(partition: str, item: str) -> Item:
    return {"sweep_id": {"S": partition}, "item": {"S": item}}


def expiry(at: float) -> Item:
    """The attribute DynamoDB's TTL deletes an item by (infra/central.json: TimeToLiveSpecification `expires_at`),
    `at` in epoch seconds. Every tenant's items carry it."""
    return {"expires_at": {"N": str(int(at))}}


def live(item: Item, now: float) -> bool:
    """Whether an item read back is still valid: TTL deletes expired items only eventually, so one still there
    past its expiry counts as gone."""
    return int(item.get("expires_at", {}).get("N", "0")) > now


class CentralTable:
    def __init__(self, client: Callable[[], DynamoDBClient], name: str) -> None:
        self._client = client
        self.name = name

    @property
    def _ddb(self) -> DynamoDBClient:
        # Asked each time (the client factory caches its clients); not a functools.cached_property, whose one lock
        # per class on Python 3.11 would make every thread wait for another's client build.
        return self._client()

    def put(self, partition: str, item: str, attributes: Item, *, only_new: bool = False) -> None:
        """Write an item; `only_new` makes it conditional (ConditionalCheckFailedException if it exists)."""
        extra: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(sweep_id)"} if only_new else {}
        document = {**key(partition, item), **attributes}
        call_aws("dynamodb", "PutItem", lambda: self._ddb.put_item(TableName=self.name, Item=document, **extra))

    def update(self, partition: str, item: str, expression: str, values: Item, **options: Any) -> Item:
        """UpdateItem; returns the Attributes the ReturnValues option asked for (empty without one)."""
        if values:  # DynamoDB refuses an empty ExpressionAttributeValues (a REMOVE needs none)
            options = {"ExpressionAttributeValues": values, **options}
        answer = call_aws(
            "dynamodb",
            "UpdateItem",
            lambda: self._ddb.update_item(
                TableName=self.name, Key=key(partition, item), UpdateExpression=expression, **options
            ),
        )
        attributes: Item = answer.get("Attributes", {})
        return attributes

    def partition(self, partition: str) -> list[Item]:
        """Every item of a partition, consistently read, all pages."""
        pages = paginate(
            self._ddb, "dynamodb", "Query", "query", TableName=self.name, ConsistentRead=True,
            KeyConditionExpression="sweep_id = :p", ExpressionAttributeValues={":p": {"S": partition}},
        )  # fmt: skip
        return [item for page in pages for item in page["Items"]]
