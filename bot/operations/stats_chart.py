"""The stats chart admins see in chat (`buddy stats --chart`): answers and ratings per day, the
positive rate per model version, the curated examples against the next training milestone and
the answers by mode, drawn as one PNG.

The totals are `buddy stats`'s own (the conversations projection, the last curated dataset); only
the per-day series is folded from the events, which carry the time they were recorded."""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domain.event_types import ConversationEvents, FeedbackEvents
from domain.feedback import counts

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from adapters.store.conversations import ModelStats
    from bot.bootstrap import Services
    from domain.events import RecordedEvent

# 10 x 7 inches at 100 dpi: 1000 x 700 px, wide enough for a chat client's preview and legible
# when it is opened; no tight bounding box, so the size never depends on the labels.
WIDTH_IN, HEIGHT_IN, DPI = 10, 7, 100
ACTIVITY_TYPES = (
    ConversationEvents.ANSWER_GIVEN,
    ConversationEvents.QUESTION_DELETED,
    FeedbackEvents.RATING_GIVEN,
    FeedbackEvents.RATING_RETRACTED,
)
_PAGE = 5000
# The Okabe-Ito palette: told apart with every common colour-vision deficiency.
BLUE, ORANGE, VERMILLION, SKY, GREY, PURPLE = (
    "#0072B2", "#E69F00", "#D55E00", "#56B4E9", "#999999", "#CC79A7",
)  # fmt: skip
MAX_VERSIONS = 6  # bars on the version panel, each wide enough for its "n=" label
MODE_COLOURS = {"generated": BLUE, "extractive": ORANGE, "declined": GREY}
TEXT, MUTED = 10, "#555555"  # the smallest font size on the chart, and quiet text


@dataclass(frozen=True)
class StatsSeries:
    days: list[dt.date]
    answers: list[int]  # per day, as long as `days`
    positive: list[int]
    negative: list[int]
    versions: list[tuple[str, int, int]]  # (registry version, positive ratings, ratings)
    curated: int
    next_milestone: int | None
    modes: dict[str, int]  # answers by mode


@dataclass(frozen=True)
class Daily:
    days: list[dt.date]
    answers: list[int]
    positive: list[int]
    negative: list[int]


@dataclass
class Activity:
    """The day of each answer still counted and of each vote still standing, folded from the
    events as the conversations projection folds them: the latest vote of a rater wins, a
    retraction or a vote over the hourly cap removes it, a deleted question's answer no longer
    counts. Summed over all days the counts are `buddy stats`'s totals; a changed vote counts
    on the day of the change."""

    answers: dict[str, dt.date] = field(default_factory=dict)
    votes: dict[tuple[str, str], tuple[dt.date, int]] = field(default_factory=dict)

    def apply(self, events: Iterable[RecordedEvent]) -> None:
        for event in events:
            day, payload = event.recorded_at.astimezone(dt.UTC).date(), event.payload
            voter = (payload.get("answer_id", ""), payload.get("user", ""))
            if event.type == ConversationEvents.ANSWER_GIVEN:
                self.answers[payload["answer_id"]] = day
            elif event.type == ConversationEvents.QUESTION_DELETED:
                self.answers.pop(payload["answer_id"], None)
            elif event.type == FeedbackEvents.RATING_GIVEN and counts(payload):
                self.votes[voter] = (day, int(payload["value"]))
            elif event.type in (FeedbackEvents.RATING_GIVEN, FeedbackEvents.RATING_RETRACTED):
                # Retracted, or replaced by a vote over the rater's hourly cap: gone either way.
                self.votes.pop(voter, None)


def bucket_by_day(activity: Activity, today: dt.date, days: int = 30) -> Daily:
    """Counts per day from the first active day (at most `days` back) through `today`, the days
    without activity as zeros; no days at all before the first activity."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    active = [*activity.answers.values(), *(day for day, _ in activity.votes.values())]
    if not active:
        return Daily([], [], [], [])
    first = min(max(min(active), today - dt.timedelta(days=days - 1)), today)
    span = [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]
    index = {day: n for n, day in enumerate(span)}
    answers, positive, negative = [0] * len(span), [0] * len(span), [0] * len(span)
    for day in activity.answers.values():
        if day in index:
            answers[index[day]] += 1
    for day, value in activity.votes.values():
        if day in index:
            (positive if value > 0 else negative)[index[day]] += 1
    return Daily(span, answers, positive, negative)


def version_rates(models: Sequence[ModelStats]) -> list[tuple[str, int, int]]:
    """(registry version, positive, rated) per version, base first: the backends that served one
    version (llama.cpp and Ollama) are summed, as the leaderboard's `version` names them."""
    from domain.model_registry import registry_version_of

    totals: dict[str, tuple[int, int]] = {}
    for model in models:
        label = registry_version_of(model.model_version)
        positive, rated = totals.get(label, (0, 0))
        totals[label] = (positive + model.positive, rated + model.positive + model.negative)
    return [(label, *totals[label]) for label in sorted(totals, key=_version_order)]


def _version_order(label: str) -> tuple[int, int, str]:
    numbered = re.fullmatch(r"v(\d+)", label)
    if label == "base":
        return (0, 0, label)
    return (1, int(numbered.group(1)), label) if numbered else (2, 0, label)


async def stats_series(services: Services, days: int = 30) -> StatsSeries:
    """The chart's figures from the store: `buddy stats`'s totals and the last `days` days."""
    from bot.operations.stats import curated_examples
    from domain.curation import next_milestone

    figures = await services.conversations.stats()
    curated = await curated_examples(services)
    activity, after = Activity(), 0
    # Paged by position: the whole history counts (a vote given in March and retracted in May
    # is no vote), but only the folded dates are kept, never the answers' texts.
    while batch := await services.store.read_all(after, limit=_PAGE, types=ACTIVITY_TYPES):
        activity.apply(batch)
        after = batch[-1].position
    daily = bucket_by_day(activity, dt.datetime.now(dt.UTC).date(), days)
    return StatsSeries(
        days=daily.days,
        answers=daily.answers,
        positive=daily.positive,
        negative=daily.negative,
        versions=version_rates(figures.models),
        curated=curated,
        next_milestone=next_milestone(curated, services.settings.milestone_counts),
        modes=dict(figures.modes),
    )


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def render_chart(series: StatsSeries) -> bytes:
    """The 2 x 2 chart as PNG bytes, drawn headless: a Figure on the Agg canvas, never pyplot,
    so no global figure state and no display. matplotlib is imported only here."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    # Constrained layout keeps titles, tick labels and legends apart at any data.
    figure.set_layout_engine("constrained", w_pad=0.1, h_pad=0.1, wspace=0.06, hspace=0.08)
    day = series.days[-1] if series.days else dt.datetime.now(dt.UTC).date()
    figure.suptitle(f"Buddy stats — {day:%Y-%m-%d} (UTC)", fontsize=16, fontweight="bold")
    (daily, versions), (milestone, modes) = figure.subplots(2, 2)
    _daily_panel(daily, series)
    _versions_panel(versions, series.versions)
    _milestone_panel(milestone, series.curated, series.next_milestone)
    _modes_panel(modes, series.modes)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, facecolor="white")
    return out.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=13, color=MUTED)  # fmt: skip


def _style(ax: Axes, title: str) -> None:
    ax.set_title(title, fontsize=12, fontweight="bold", loc="left")
    ax.tick_params(labelsize=TEXT)
    ax.spines[["top", "right"]].set_visible(False)


def _daily_panel(ax: Axes, series: StatsSeries) -> None:
    from matplotlib.ticker import MaxNLocator

    span = f" (last {len(series.days)} days)" if len(series.days) > 1 else ""
    _style(ax, f"Answers and ratings per day{span}")
    if not any(series.answers) and not any(series.positive) and not any(series.negative):
        _empty(ax, "no answers yet")
        return
    at = list(range(len(series.days)))
    ax.bar(at, series.answers, color=SKY, label="answers")
    ax.plot(at, series.positive, color=BLUE, marker="o", markersize=4, label="rated up")
    ax.plot(at, series.negative, color=VERMILLION, marker="s", markersize=4, linestyle="--",
            label="rated down")  # fmt: skip
    step = max(1, -(-len(at) // 6))  # at most 6 date labels, so they never run into each other
    ticks = at[::-1][::step][::-1]  # counted back from today, so today is always labelled
    ax.set_xticks(ticks, [f"{series.days[n]:%b %d}" for n in ticks])
    ax.set_xlim(-0.7, len(at) - 0.3)
    top = max(*series.answers, *series.positive, *series.negative)
    ax.set_ylim(0, top * 1.35 + 1)  # head room for the legend
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 answers
    ax.set_ylabel("count", fontsize=TEXT)
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(name) for name in ("answers", "rated up", "rated down")]
    ax.legend([handles[n] for n in order], [labels[n] for n in order], loc="upper left", ncol=3,
              fontsize=TEXT, frameon=False)  # fmt: skip


def _versions_panel(ax: Axes, versions: Sequence[tuple[str, int, int]]) -> None:
    from matplotlib.ticker import PercentFormatter

    shown = versions[-MAX_VERSIONS:]  # the latest: older ones would crowd the labels
    more = f" (latest {len(shown)} of {len(versions)})" if len(shown) < len(versions) else ""
    _style(ax, f"Positive rate per version{more}")
    if not any(rated for _, _, rated in shown):
        _empty(ax, "no ratings yet")
        return
    at = list(range(len(shown)))
    rates = [100 * positive / rated if rated else 0.0 for _, positive, rated in shown]
    ax.bar(at, rates, color=BLUE, width=0.6)
    for n, (rate, (_, _, rated)) in enumerate(zip(rates, shown, strict=True)):
        inside = rate > 78  # a label above a full bar would leave the axes
        ax.text(n, rate - 2 if inside else rate + 2, f"{rate:.0f}%\nn={rated}", ha="center",
                va="top" if inside else "bottom", fontsize=TEXT,
                color="white" if inside else "black")  # fmt: skip
    ax.set_xticks(at, [label for label, _, _ in shown])
    middle, half = (len(at) - 1) / 2, max(len(at), 3) / 2  # one or two bars stay bar-sized
    ax.set_xlim(middle - half, middle + half)
    ax.set_ylim(0, 100)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.set_ylabel("rated up", fontsize=TEXT)


def _milestone_panel(ax: Axes, curated: int, goal: int | None) -> None:
    _style(ax, "Curated examples → next training")
    ax.set_yticks([])
    ax.spines[["left"]].set_visible(False)
    end = goal if goal is not None else max(curated, 1)
    ax.barh(0, end, height=0.5, color="#E5E5E5")
    ax.barh(0, min(curated, end), height=0.5, color=BLUE)
    ax.set_xlim(0, end)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("curated examples", fontsize=TEXT)
    if goal is None:
        text, note = f"{curated} curated", "no milestone left: training is not scheduled"
    else:
        text = f"{curated} / {goal}  ({curated / goal:.0%})"
        note = f"{goal - curated} more until training starts at {goal}"
    ax.text(0.5, 0.66, text, transform=ax.transAxes, ha="center", va="bottom", fontsize=14,
            fontweight="bold")  # fmt: skip
    ax.text(0.5, 0.34, note, transform=ax.transAxes, ha="center", va="top", fontsize=11,
            color=MUTED)  # fmt: skip


def _modes_panel(ax: Axes, modes: dict[str, int]) -> None:
    from matplotlib.ticker import MaxNLocator

    from domain.grounding.grounder import ANSWER_MODES

    _style(ax, "Answers by mode")
    total = sum(modes.values())
    if not total:
        _empty(ax, "no answers yet")
        return
    names = [*ANSWER_MODES, *sorted(set(modes) - set(ANSWER_MODES))]
    counts = [modes.get(name, 0) for name in names]
    at = list(range(len(names)))[::-1]  # the first mode on top
    ax.barh(at, counts, color=[MODE_COLOURS.get(name, PURPLE) for name in names], height=0.6)
    for y, count in zip(at, counts, strict=True):
        ax.text(count + total * 0.01, y, f" {count} ({count / total:.0%})", va="center",
                fontsize=TEXT)  # fmt: skip
    ax.set_yticks(at, names)
    ax.set_xlim(0, max(counts) * 1.3)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.set_xlabel("answers", fontsize=TEXT)
