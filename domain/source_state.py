"""A fetcher's state between syncs, recorded as what changed: a Git source's state names every
file's blob, a web source's every page, and a sync that changes two files records two entries
rather than the whole listing again (the stream of a source synced hourly stays small).

A state is a JSON object; its values that are objects on both sides (the blobs, the pages)
are compared entry by entry, anything else is replaced whole."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

State = Mapping[str, Any]


def state_patch(old: State, new: State) -> dict[str, Any]:
    """What turns `old` into `new`: {"set": {key: value}, "unset": [key], "entries": {key:
    {"set": {...}, "unset": [...]}}}, with the empty parts left out ({} when equal)."""
    patch: dict[str, Any] = {}
    set_: dict[str, Any] = {}
    entries: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            if inner := _entries_patch(before, value):
                entries[key] = inner
        elif key not in old or before != value:
            set_[key] = value
    unset = sorted(key for key in old if key not in new)
    if set_:
        patch["set"] = set_
    if unset:
        patch["unset"] = unset
    if entries:
        patch["entries"] = entries
    return patch


def apply_patch(old: State, patch: Mapping[str, Any]) -> dict[str, Any]:
    """`old` with `patch` (from state_patch) applied; `old` is left as it was."""
    state = {key: value for key, value in old.items() if key not in set(patch.get("unset", ()))}
    state.update(patch.get("set", {}))
    for key, inner in patch.get("entries", {}).items():
        entries = dict(state.get(key) or {})
        for gone in inner.get("unset", ()):
            entries.pop(gone, None)
        entries.update(inner.get("set", {}))
        state[key] = entries
    return state


def _entries_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    changed = {key: value for key, value in new.items() if key not in old or old[key] != value}
    removed = sorted(key for key in old if key not in new)
    if changed:
        inner["set"] = changed
    if removed:
        inner["unset"] = removed
    return inner
