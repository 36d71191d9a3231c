"""The sweep's fan-in items in the central table: what counting an account reads back."""

from __future__ import annotations

from typing import Any

from chalicelib.sweep import SWEEP_TTL_SECONDS, Recorded, SweepStore
from tests.conftest import CENTRAL, World

CENTRAL_KEY = "arn:aws:kms:eu-west-1:111111111111:key/central-1"
POSTURE = {"state": "Enabled", "posture": "weak: automatic key rotation is off " + "x" * 2000, "severity": "medium",
           "fixed": ""}  # fmt: skip


def test_counting_an_account_reads_back_the_count_not_the_central_keys(world: World) -> None:
    ddb = world.session(CENTRAL).client("dynamodb")  # its own client: the hook below stays with it
    answers: list[dict[str, Any]] = []

    def keep(parsed: dict[str, Any], **_: Any) -> None:
        answers.append(parsed.get("Attributes", {}))

    ddb.meta.events.register("after-call.dynamodb.UpdateItem", keep)
    store = SweepStore(lambda: ddb, world.create_central_table())
    store.begin("s", 2, central_keys={CENTRAL_KEY: POSTURE})
    result: dict[str, Any] = {"counts": {}, "non_compliant": [], "error": None}

    assert store.record("s", "222222222222", result) == Recorded(new=True, last=False)
    assert store.record("s", "222222222222", result) == Recorded(new=False, last=False)  # a redelivery
    assert store.record("s", "333333333333", result) == Recorded(new=True, last=True)

    assert len(answers) == 3
    for attributes in answers:
        assert "central_keys" not in attributes
        assert set(attributes) <= {"sweep_id", "item", "expected", "expires_at", "done_accounts", "digest_sent"}
    assert sorted(answers[-1]["done_accounts"]["SS"]) == ["222222222222", "333333333333"]  # a set: no order
    results, central = store.outcome("s")
    assert (sorted(results), central) == (["222222222222", "333333333333"], {CENTRAL_KEY: POSTURE})


def test_every_item_of_a_sweep_expires_a_week_after_it_is_written(world: World) -> None:
    """The central table's TTL attribute is on each item (the table would otherwise keep every account's result of
    every sweep, four sweeps a day, for good)."""
    ddb = world.client("dynamodb")
    table = world.create_central_table()
    store = SweepStore(lambda: ddb, table, clock=lambda: 1_000_000.0)
    store.begin("s", 2, central_keys={CENTRAL_KEY: POSTURE})
    result: dict[str, Any] = {"counts": {}, "non_compliant": [], "error": None}
    store.record("s", "222222222222", result)
    store.record("s", "333333333333", result)

    items = ddb.scan(TableName=table)["Items"]
    names = sorted(i["item"]["S"] for i in items)
    assert names == ["#central", "#meta", "account#222222222222", "account#333333333333"]
    assert {i["expires_at"]["N"] for i in items} == {str(1_000_000 + SWEEP_TTL_SECONDS)}
