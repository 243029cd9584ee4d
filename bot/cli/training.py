"""`buddy train`: one training run on the curated dataset, gated and promoted (the learning loop;
the run itself is `bot.operations.training.run_training`, which the scheduler calls too)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings
from domain.errors import BuddyError


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_command(
        max_steps: Annotated[
            int | None, typer.Option("--max-steps", min=1, help="Stop after this many steps.")
        ] = None,
        json_output: JsonFlag = False,
    ) -> None:
        """Train a LoRA adapter on the curated set, evaluate it, promote it if the gate passes."""

        async def work(settings: Settings) -> None:
            from bot.bootstrap import bootstrap
            from bot.operations.training import run_training

            async with bootstrap(settings) as services:
                outcome = await run_training(services, max_steps=max_steps)
            if json_output:
                print_json(outcome)
            else:
                _print(outcome)
            if outcome["status"] == "failed":
                raise BuddyError(f"training {outcome['version']} failed: {outcome.get('error')}")

        run(work)


def _print(outcome: dict[str, Any]) -> None:
    metrics = outcome["metrics"]
    typer.echo(f"{outcome['version']}: {outcome['status']}")
    for key in ("steps", "train_loss", "eval_loss", "served_eval_loss", "golden_score",
                "served_golden_score", "canaries_leaked", "tokens_per_s"):  # fmt: skip
        if key in metrics:
            typer.echo(f"  {key}: {metrics[key]}")
    gate = outcome.get("gate") or {}
    if outcome["promoted"]:
        typer.echo(f"  promoted: {outcome['version']} is now served")
    elif gate.get("reasons"):
        typer.echo("  not promoted: " + "; ".join(gate["reasons"]))
