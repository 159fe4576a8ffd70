from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.controls import Controls
from bridge.domain.groups import GroupManifest, ListManifest, plan_parts
from bridge.domain.plan import PublisherUnit, root_units, split_unit


def unit(first: int, end: int) -> PublisherUnit:
    return PublisherUnit("g.r", "g", 1, "a", first, end, "2026-11-22T03:00:00.000Z")


def leaves(start: PublisherUnit, branching: int) -> tuple[list[PublisherUnit], int]:
    """Walk the tree: its leaves, and its depth in hops from the root."""
    level, depth, found = [start], 0, []
    while level:
        nxt = []
        for u in level:
            if u.is_leaf:
                found.append(u)
            else:
                nxt.extend(split_unit(u, branching))
        if nxt:
            depth += 1
        level = nxt
    return found, depth


@given(st.integers(min_value=1, max_value=3000), st.integers(min_value=2, max_value=20))
def test_the_tree_reaches_every_part_exactly_once(parts: int, branching: int) -> None:
    found, depth = leaves(unit(0, parts), branching)
    assert sorted(u.part for u in found) == list(range(parts))
    assert branching**depth >= parts  # depth is logarithmic in the number of parts
    if depth:
        assert branching ** (depth - 1) < parts


def test_children_are_contiguous_and_balanced() -> None:
    children = split_unit(unit(0, 25), 10)
    assert [(c.first_part, c.end_part) for c in children][:3] == [(0, 3), (3, 6), (6, 9)]
    widths = {c.end_part - c.first_part for c in children}
    assert widths == {2, 3}
    assert all(c.run_id == "g.r" and c.attempt == 1 for c in children)


def test_a_leaf_does_not_split_and_an_empty_range_is_refused() -> None:
    assert split_unit(unit(4, 5)) == ()
    with pytest.raises(ValueError, match="empty"):
        unit(3, 3)
    with pytest.raises(ValueError, match="single part"):
        _ = unit(0, 2).part


def test_one_root_unit_per_list_covering_all_its_parts() -> None:
    manifest = GroupManifest(
        "g",
        2,
        "python:m:f",
        Controls(),
        (ListManifest("a", plan_parts(3000)), ListManifest("b", plan_parts(10))),
        "2026-11-22T03:00:00.000Z",
    )
    roots = root_units("g.r", manifest, "2026-11-22T03:00:00.000Z", attempt=2)
    assert [(u.list_name, u.first_part, u.end_part, u.version, u.attempt) for u in roots] == [
        ("a", 0, 3, 2, 2),
        ("b", 0, 1, 2, 2),
    ]
    assert PublisherUnit.from_dict(roots[0].to_dict()) == roots[0]
