"""`buddy bench`: the command over the benchmark suite (`bot.bench`)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        name: Annotated[
            str,
            typer.Argument(
                help="Which benchmark: store, retrieval, ingest, vectors, generation, training,"
                " answers, scrubber, chunking, or all."
            ),
        ] = "all",
        json_output: JsonFlag = False,
        events_count: Annotated[
            int, typer.Option("--events", help="Events per measurement (store).", min=100)
        ] = 2000,
        distribution: Annotated[
            str, typer.Option(help="Random vectors for `vectors`: clustered or uniform.")
        ] = "clustered",
        runs: Annotated[
            int, typer.Option(help="Timed runs per side (generation); medians are reported.", min=1)
        ] = 3,
        eval_set: Annotated[
            list[str] | None,
            typer.Option("--set", help="Eval set of data/eval (answers; repeatable; default all)."),
        ] = None,
        model: Annotated[
            str | None,
            typer.Option(help="answers: a GGUF file to answer with, or 'extractive' (no model)."),
        ] = None,
        split: Annotated[
            str, typer.Option(help="answers: the half to run: dev, test or all.")
        ] = "all",
        limit: Annotated[
            int | None, typer.Option(help="answers: at most N questions per set and half.", min=1)
        ] = None,
        details: Annotated[
            bool, typer.Option("--details", help="answers: every question's answer in the JSON.")
        ] = False,
        baselines: Annotated[
            bool, typer.Option(help="answers: also run the raw-model baseline.")
        ] = True,
        scoped: Annotated[
            bool,
            typer.Option(
                "--scoped",
                help="vectors: a search scoped to one source of 5% of 100k chunks (a channel's "
                "scope) against an exact scan of it.",
            ),
        ] = False,
    ) -> None:
        """Run the benchmark suite; results are ratios measured in one run."""
        from bot.bench.answers import BenchOptions

        if split not in ("dev", "test", "all"):
            raise typer.BadParameter("--split must be dev, test or all")
        if scoped and name != "vectors":
            raise typer.BadParameter("--scoped goes with `buddy bench vectors`")
        answers = BenchOptions(
            tuple(eval_set or ()), model, ("dev", "test") if split == "all" else (split,), limit,
            baselines, details,
        )  # fmt: skip

        async def work(settings: Settings) -> None:
            from bot.bench.suite import print_table, run_benchmarks

            if scoped:
                results = {"vectors_scoped": await _scoped_vectors(distribution)}
            else:
                results = await run_benchmarks(
                    settings, name, events_count, distribution, runs, answers
                )
            if json_output:
                print_json(results)
            else:
                print_table(results)

        run(work)


async def _scoped_vectors(distribution: str) -> dict[str, object]:
    from bot.bench.vectors import bench_scoped_vectors
    from domain.errors import ConfigurationError

    try:
        return await bench_scoped_vectors(distribution=distribution)
    except ValueError as error:
        raise ConfigurationError(str(error)) from error
