"""Alert rules in the registry, on both adapter families: `alerts/<id>.json`, created
once, listed whole, removed by id."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

import pytest

from bridge.domain.alerts import (
    Alert,
    AlertNotFound,
    DestinationKind,
    new_alert_id,
    new_secret,
    parse_events,
)
from bridge.exceptions import Conflict
from bridge.local.registry import FileRegistry
from bridge.ports import Registry
from tests.contract.conftest import snapshot

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def webhook(alert_id: str | None = None, group: str | None = "g") -> Alert:
    return Alert(
        id=alert_id or new_alert_id(),
        group=group,
        events=parse_events("failed,lost"),
        kind=DestinationKind.WEBHOOK,
        destination="https://hooks.example.com/cronbridge?token=abc",
        created_at=T0,
        secret=new_secret(),
    )


def topic() -> Alert:
    return Alert(
        id=new_alert_id(),
        group=None,
        events=parse_events("missed"),
        kind=DestinationKind.SNS,
        destination="arn:aws:sns:us-east-1:123456789012:cronbridge-alerts",
        created_at=T0,
    )


def test_an_alert_is_one_object_under_alerts_and_reads_back_whole(registry: Registry) -> None:
    hook, sns = webhook(), topic()
    registry.put_alert(hook)
    registry.put_alert(sns)
    stored = snapshot(registry)
    assert sorted(stored) == sorted([f"alerts/{hook.id}.json", f"alerts/{sns.id}.json"])
    on_disk = json.loads(stored[f"alerts/{hook.id}.json"])
    assert on_disk["secret"] == hook.secret  # the sweep signs with it
    assert on_disk["webhook"] == hook.destination and on_disk["on"] == ["failed", "lost"]
    assert "secret" not in json.loads(stored[f"alerts/{sns.id}.json"])
    assert registry.list_alerts() == sorted([hook, sns], key=lambda a: a.id)


def test_an_id_is_never_taken_twice(registry: Registry) -> None:
    first = webhook()
    registry.put_alert(first)
    before = snapshot(registry)
    with pytest.raises(Conflict):
        registry.put_alert(webhook(first.id, group="other"))
    assert snapshot(registry) == before
    assert registry.list_alerts() == [first]


def test_removing_an_alert_leaves_the_others(registry: Registry) -> None:
    keep, drop = webhook(), webhook()
    registry.put_alert(keep)
    registry.put_alert(drop)
    registry.delete_alert(drop.id)
    assert registry.list_alerts() == [keep]
    assert sorted(snapshot(registry)) == [f"alerts/{keep.id}.json"]


def test_removing_an_alert_that_is_not_there_says_so(registry: Registry) -> None:
    assert registry.list_alerts() == []
    with pytest.raises(AlertNotFound) as caught:
        registry.delete_alert(new_alert_id())
    assert caught.value.hint == "see `cronbridge alerts list`"
    with pytest.raises(AlertNotFound):  # never a path or a key outside alerts/
        registry.delete_alert("../groups/g/current")


def test_alerts_are_not_groups(registry: Registry) -> None:
    registry.put_alert(webhook())
    assert registry.list_groups() == []


def test_a_local_alert_file_is_readable_by_its_owner_only(file_registry: FileRegistry) -> None:
    alert = webhook()
    file_registry.put_alert(alert)
    path = file_registry.root / "alerts" / f"{alert.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_an_unreadable_local_alert_file_is_skipped(file_registry: FileRegistry) -> None:
    good = webhook()
    file_registry.put_alert(good)
    (file_registry.root / "alerts" / "a-00000000.json").write_text("{not json")
    assert file_registry.list_alerts() == [good]
