"""`buddy stats` per model version: answers, positive rate and negative rate (a leaderboard)."""

from __future__ import annotations

from adapters.store.conversations import ConversationStats, ModelStats
from bot.operations.stats import stats_json, stats_lines


def test_each_model_version_shows_its_rates_best_first() -> None:
    figures = ConversationStats(
        questions=40, answers=38, failures=2, positive=22, negative=8, rated_answers=30,
        models=[
            ModelStats("llamacpp:gemma-3-270m-q4_k_m", 20, 2, 8, 6),
            ModelStats("llamacpp:gemma-3-270m-q4_k_m+v1", 16, 0, 14, 2),
            ModelStats("ollama:buddy-v2", 2, 0, 0, 0),
        ],
    )  # fmt: skip
    base, v1, v2 = stats_json(figures)["models"]
    assert base == {
        "model_version": "llamacpp:gemma-3-270m-q4_k_m", "answers": 20, "failures": 2,
        "positive": 8, "negative": 6, "version": "base", "positive_rate": 0.5714,
        "negative_rate": 0.4286,
    }  # fmt: skip
    assert (v1["version"], v1["positive_rate"], v1["negative_rate"]) == ("v1", 0.875, 0.125)
    assert (v2["version"], v2["positive_rate"], v2["negative_rate"]) == ("v2", 0.0, 0.0)
    lines = stats_lines(figures)
    board = lines[lines.index("models (leaderboard, best positive rate first)") + 1 :]
    assert board[0].startswith("  llamacpp:gemma-3-270m-q4_k_m+v1: 16 answers")
    assert board[0].endswith("(88% positive, 12% negative)")
    assert board[1].startswith("  llamacpp:gemma-3-270m-q4_k_m: 20 answers")
