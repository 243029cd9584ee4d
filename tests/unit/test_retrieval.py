"""Rank fusion is pure and predictable."""

from domain.retrieval import RRF_K, reciprocal_rank_fusion


def test_items_found_by_both_rankings_rise_to_the_top() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "a"]])
    assert [item for item, _ in fused][:2] == ["a", "c"]
    assert fused[0][1] == 1 / (RRF_K + 1) + 1 / (RRF_K + 3)


def test_weights_tilt_the_fusion() -> None:
    dense_heavy = reciprocal_rank_fusion([["a"], ["b"]], weights=[2.0, 1.0])
    assert [item for item, _ in dense_heavy] == ["a", "b"]
    text_heavy = reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0, 2.0])
    assert [item for item, _ in text_heavy] == ["b", "a"]


def test_empty_rankings_fuse_to_nothing() -> None:
    assert reciprocal_rank_fusion([[], []]) == []
