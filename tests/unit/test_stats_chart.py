"""The stats chart: the per-day series folded from events (pure, no database) and the PNG drawn
from a series, full or empty, at a size a chat client shows as is."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import subprocess
import sys
from typing import Any

import pytest

from adapters.store.conversations import ModelStats
from bot.operations.stats_chart import (
    Activity,
    StatsSeries,
    bucket_by_day,
    png_size,
    render_chart,
    version_rates,
)
from domain.event_types import ConversationEvents, FeedbackEvents
from domain.events import RecordedEvent

TODAY = dt.date(2025, 6, 14)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
POSITIONS = itertools.count(1)


def event(kind: str, day: dt.date, **payload: Any) -> RecordedEvent:
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return RecordedEvent(next(POSITIONS), "s", 0, kind, 1, payload, {}, moment)


def answered(answer_id: str, day: dt.date) -> RecordedEvent:
    return event(ConversationEvents.ANSWER_GIVEN, day, answer_id=answer_id)


def rated(answer_id: str, user: str, value: int, day: dt.date) -> RecordedEvent:
    return event(FeedbackEvents.RATING_GIVEN, day, answer_id=answer_id, user=user, value=value)


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def folded(*events: RecordedEvent) -> Activity:
    activity = Activity()
    activity.apply(events)
    return activity


def example_series() -> StatsSeries:
    days = [days_ago(n) for n in range(13, -1, -1)]
    answers = [3, 5, 0, 7, 9, 4, 2, 6, 8, 1, 0, 5, 7, 6]
    return StatsSeries(
        days=days,
        answers=answers,
        positive=[a // 2 for a in answers],
        negative=[a % 3 for a in answers],
        versions=[("base", 26, 40), ("v1", 19, 25), ("v2", 8, 9)],
        curated=63,
        next_milestone=100,
        modes={"generated": 70, "extractive": 20, "declined": 10},
    )


EMPTY = StatsSeries([], [], [], [], [], curated=0, next_milestone=100, modes={})


def distinct_colours(png: bytes) -> int:
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png))
    return len({tuple(pixel) for pixel in pixels.reshape(-1, pixels.shape[-1]).tolist()})


@pytest.mark.parametrize(
    "series",
    [
        example_series(),
        EMPTY,
        StatsSeries([TODAY], [1], [0], [1], [("base", 0, 1)], 5000, None, {"legacy": 1}),
    ],
    ids=["two-weeks", "empty", "one-day-no-milestone-left"],
)
def test_the_chart_is_a_1000x700_png_with_something_drawn(series: StatsSeries) -> None:
    png = render_chart(series)
    assert png[:8] == PNG_SIGNATURE
    assert int.from_bytes(png[16:20], "big") == 1000  # IHDR: width, then height
    assert int.from_bytes(png[20:24], "big") == 700
    assert png_size(png) == (1000, 700)
    assert distinct_colours(png) > 20  # text and bars, not a blank canvas


def test_png_size_refuses_what_is_not_a_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(30))


def test_a_30_day_gap_is_zero_filled() -> None:
    activity = folded(answered("a1", days_ago(31)), answered("a2", TODAY),
                      rated("a2", "bob", 1, TODAY))  # fmt: skip
    daily = bucket_by_day(activity, TODAY, days=60)
    assert daily.days == [days_ago(n) for n in range(31, -1, -1)]
    assert daily.answers == [1, *[0] * 30, 1]
    assert daily.positive == [0] * 31 + [1]
    assert daily.negative == [0] * 32


def test_the_window_is_capped_to_days_and_always_ends_today() -> None:
    activity = folded(answered("old", days_ago(45)), answered("recent", days_ago(3)))
    daily = bucket_by_day(activity, TODAY, days=30)
    assert daily.days[0] == days_ago(29)
    assert daily.days[-1] == TODAY
    assert len(daily.days) == 30
    assert sum(daily.answers) == 1  # the old answer is before the window
    assert daily.answers[-4] == 1


def test_no_activity_means_no_days() -> None:
    daily = bucket_by_day(Activity(), TODAY)
    assert (daily.days, daily.answers, daily.positive, daily.negative) == ([], [], [], [])
    with pytest.raises(ValueError, match="at least 1"):
        bucket_by_day(Activity(), TODAY, days=0)


def test_votes_count_as_the_store_counts_them() -> None:
    """The latest vote of a rater stands, on the day it was given; a retraction removes it and
    a deleted question's answer is no longer counted, as in `buddy stats`."""
    activity = folded(
        answered("a1", days_ago(2)),
        answered("a2", days_ago(2)),
        rated("a1", "bob", -1, days_ago(2)),
        rated("a1", "bob", 1, days_ago(1)),  # bob changes his mind the next day
        rated("a1", "eve", 1, days_ago(2)),
        event(FeedbackEvents.RATING_RETRACTED, TODAY, answer_id="a1", user="eve", value=1),
        rated("a2", "carol", -1, TODAY),
        event(ConversationEvents.QUESTION_DELETED, TODAY, answer_id="a2", user="u"),
    )
    daily = bucket_by_day(activity, TODAY)
    assert daily.answers == [1, 0, 0]
    assert daily.positive == [0, 1, 0]
    assert daily.negative == [0, 0, 1]


def test_a_capped_vote_counts_nowhere_and_ends_the_raters_earlier_vote() -> None:
    def capped(user: str, value: int) -> RecordedEvent:
        return event(FeedbackEvents.RATING_GIVEN, TODAY, answer_id="a1", user=user,
                     value=value, capped=True)  # fmt: skip

    activity = folded(
        answered("a1", TODAY),
        rated("a1", "bob", 1, TODAY),
        capped("bob", -1),  # bob's latest vote is over his cap: his +1 no longer counts
        rated("a1", "eve", 1, TODAY),
        capped("dan", 1),
    )
    daily = bucket_by_day(activity, TODAY)
    assert (daily.answers, daily.positive, daily.negative) == ([1], [1], [0])


def test_versions_are_the_leaderboards_base_first_and_backends_summed() -> None:
    models = [
        ModelStats("llamacpp:gemma+v10", answers=3, positive=1, negative=1),
        ModelStats("llamacpp:gemma+v2", answers=5, positive=3, negative=1),
        ModelStats("llamacpp:gemma", answers=9, positive=4, negative=4),
        ModelStats("ollama:buddy-v2", answers=2, positive=1, negative=0),
        ModelStats("llamacpp:gemma+v3", answers=1, failures=1),
    ]
    assert version_rates(models) == [
        ("base", 4, 8), ("v2", 4, 5), ("v3", 0, 0), ("v10", 1, 2)
    ]  # fmt: skip


PROBE = """
import json, sys
import bot.operations.stats_chart as chart
before = "matplotlib" in sys.modules
png = chart.render_chart(chart.StatsSeries([], [], [], [], [], 0, None, {}))
print(json.dumps({"before": before, "pyplot": "matplotlib.pyplot" in sys.modules,
                  "size": chart.png_size(png)}))
"""


def test_matplotlib_is_loaded_only_to_draw_and_pyplot_never() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"before": False, "pyplot": False, "size": [1000, 700]}
