"""Duplicate job ids across a group's lists, remembered as hashes (issue 11, item 15)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.groups import JobListChecker
from bridge.domain.job_ids import JobIdTable


def test_every_id_is_remembered_with_where_it_was_first_seen_as_the_table_grows() -> None:
    table = JobIdTable()
    first_slots = table.slots
    for n in range(50_000):
        assert table.first_seen(f"job-{n}", n) is None
    assert len(table) == 50_000 and table.slots > first_slots
    assert table.slots >= 2 * len(table)  # never more than half full
    assert [table.first_seen(f"job-{n}", 0) for n in (0, 4095, 4096, 49_999)] == [
        0,
        4095,
        4096,
        49_999,
    ]
    assert len(table) == 50_000  # a duplicate is not added


@given(st.lists(st.text(min_size=1, max_size=8), max_size=300))
def test_the_table_agrees_with_a_dict(ids: list[str]) -> None:
    table, reference = JobIdTable(), dict[str, int]()
    for n, job_id in enumerate(ids):
        assert table.first_seen(job_id, n) == reference.get(job_id)
        reference.setdefault(job_id, n)


def test_two_ids_with_one_hash_are_taken_for_a_duplicate() -> None:
    """The documented price of keeping 64-bit hashes instead of the ids."""
    table = JobIdTable(hash_id=lambda job_id: 42)
    assert table.first_seen("a", 7) is None
    assert table.first_seen("b", 9) == 7


def test_ids_whose_hashes_share_a_slot_are_still_told_apart() -> None:
    table = JobIdTable(hash_id=lambda job_id: int(job_id) << 40)  # same low bits: one slot
    assert [table.first_seen(str(n), n) for n in range(100)] == [None] * 100
    assert table.first_seen("37", 0) == 37


def test_a_duplicate_names_the_list_and_line_it_first_appeared_on() -> None:
    checker = JobListChecker()
    lists = {
        "a": ['{"id": "x"}', "", '{"id": "y"}'],
        "b": ['{"id": "z"}', '{"id": "y"}'],
        "c": ['{"id": "z"}', '{"id": "x"}'],
    }
    for name, lines in lists.items():
        list(checker.check_list(name, lines))
    assert [str(p) for p in checker.problems] == [
        "list 'b' line 2: duplicate job id 'y' (first at list 'a' line 3)",
        "list 'c' line 1: duplicate job id 'z' (first at list 'b' line 1)",
        "list 'c' line 2: duplicate job id 'x' (first at list 'a' line 1)",
    ]
