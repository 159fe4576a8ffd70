"""Every job id of a registration, and where it was first seen, in bounded memory.

Job ids are unique across a group's lists (DESIGN.md §3.2), so registration must
remember each one until the last line is read. A dict from id to where it was first
seen costs about 180 bytes a job (the id's string, a tuple, the dict's slot), a set of
the ids alone about 90, and both grow with the ids' length (up to 128 characters).

This table keeps, per id, its 64-bit hash and where it was first seen, in two flat
arrays of 8-byte slots, never more than half full: 16 bytes a slot, at most 32 bytes a
job whatever its id, 34 MB for a million jobs. While it doubles, the old arrays live
beside the new ones, so its peak is 1.5 times that.

The price of keeping hashes, not ids: two different ids that share a 64-bit hash are
reported as a duplicate. In a list of n jobs that happens with odds of about
n² / 2^65, one in 37 million for a million jobs. Python's string hash is seeded afresh
in every process, so registering again would not meet the same pair.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

__all__ = ["JobIdTable"]

_MASK64 = (1 << 64) - 1
_EMPTY = 0
_FIRST_SLOTS = 1 << 12


class JobIdTable:
    """Open addressing over arrays: `first_seen` adds an id or says where it was first seen."""

    def __init__(self, hash_id: Callable[[str], int] = hash) -> None:
        self._hash = hash_id
        self._keys = array("Q", [_EMPTY]) * _FIRST_SLOTS
        self._where = array("Q", [0]) * _FIRST_SLOTS
        self._used = 0

    def __len__(self) -> int:
        return self._used

    @property
    def slots(self) -> int:
        """How many slots the table holds now (16 bytes each)."""
        return len(self._keys)

    def first_seen(self, job_id: str, where: int) -> int | None:
        """None, remembering `where` (0 to 2^64 - 1) for `job_id`, if the id is new;
        else the `where` remembered for it (or for an id with the same hash)."""
        key = (self._hash(job_id) & _MASK64) or 1  # 0 marks an empty slot
        keys = self._keys
        mask = len(keys) - 1
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._where[slot]
            if found == _EMPTY:
                break
            slot = (slot + 1) & mask
        keys[slot] = key
        self._where[slot] = where
        self._used += 1
        if self._used * 2 > len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_where = self._keys, self._where
        size = len(old_keys) * 2
        keys = array("Q", [_EMPTY]) * size
        where = array("Q", [0]) * size
        mask = size - 1
        for key, at in zip(old_keys, old_where, strict=True):
            if key != _EMPTY:
                slot = key & mask
                while keys[slot] != _EMPTY:
                    slot = (slot + 1) & mask
                keys[slot] = key
                where[slot] = at
        self._keys, self._where = keys, where
