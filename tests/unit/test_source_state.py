"""A fetcher's state recorded as what changed (domain/source_state.py): applying the patch to the
old state gives the new one, whatever the two are, and an unchanged state costs nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.source_state import apply_patch, state_patch

_keys = st.sampled_from(["commit", "blobs", "pages", "links", "version", "origin"])
_entry_keys = st.text("abc/.md", min_size=1, max_size=6)
_scalars = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers()))
_values = st.one_of(_scalars, st.dictionaries(_entry_keys, _scalars, max_size=6))
_states = st.dictionaries(_keys, _values, max_size=6)


@settings(deadline=None)  # a loaded CI machine is slow, not wrong
@given(_states, _states)
def test_the_patch_turns_the_old_state_into_the_new(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert apply_patch(old, state_patch(old, new)) == new


@settings(deadline=None)
@given(_states)
def test_an_unchanged_state_is_an_empty_patch(state: dict[str, Any]) -> None:
    assert state_patch(state, state) == {}


def test_a_changed_file_is_one_entry_not_the_whole_listing() -> None:
    blobs = {f"docs/{i}.md": f"sha{i}" for i in range(400)}
    old = {"commit": "c1", "blobs": blobs}
    new = {"commit": "c2", "blobs": {**blobs, "docs/7.md": "sha-new", "docs/new.md": "n"}}
    del new["blobs"]["docs/9.md"]  # type: ignore[attr-defined]
    patch = state_patch(old, new)
    assert patch == {
        "set": {"commit": "c2"},
        "entries": {"blobs": {"set": {"docs/7.md": "sha-new", "docs/new.md": "n"},
                              "unset": ["docs/9.md"]}},
    }  # fmt: skip
    assert apply_patch(old, patch) == new
    assert old["blobs"]["docs/7.md"] == "sha7"  # the old state is left as it was


def test_a_sync_stored_before_patches_is_read_as_the_whole_state() -> None:
    """SourceSynced v1 carried the whole state at every sync; folded through the upcaster it
    gives that state, and a v2 patch after it applies on top."""
    from datetime import UTC, datetime

    from domain.catalogue import upcasters
    from domain.event_types import KnowledgeEvents
    from domain.events import RecordedEvent
    from domain.source_sync import RegisteredSource, apply

    at = datetime(2026, 11, 1, tzinfo=UTC)
    spec = {"name": "team", "kind": "git", "origin": "file:///r"}
    added = RecordedEvent(1, "s", 0, KnowledgeEvents.SOURCE_ADDED, 1,
                          {"source_id": "x", "name": "team", "spec": spec}, {}, at)  # fmt: skip
    synced = {"source_id": "x", "revision": "c1", "license": "MIT", "changes": {},
              "state": {"commit": "c1", "blobs": {"a.md": "1", "b.md": "2"}}}  # fmt: skip
    v1 = upcasters().upcast(
        RecordedEvent(2, "s", 1, KnowledgeEvents.SOURCE_SYNCED, 1, synced, {}, at)
    )
    assert v1.schema_version == 2
    patch = {"set": {"commit": "c2"}, "entries": {"blobs": {"unset": ["b.md"]}}}
    v2 = RecordedEvent(3, "s", 2, KnowledgeEvents.SOURCE_SYNCED, 2,
                       {"source_id": "x", "revision": "c2", "license": "MIT", "changes": {},
                        "state_patch": patch}, {}, at)  # fmt: skip

    def fold(events: list[RecordedEvent]) -> RegisteredSource | None:
        source: RegisteredSource | None = None
        for event in events:
            source = apply(source, event)
        return source

    source = fold([added, v1])
    assert source is not None
    assert source.state == synced["state"]
    source = fold([added, v1, v2])
    assert source is not None
    assert source.state == {"commit": "c2", "blobs": {"a.md": "1"}}
