"""`buddy bench`'s suite (`suite`) and its benchmarks, one module each, with the answer-quality
eval sets (`eval_sets`) and metrics (`answer_metrics`). Nothing here imports `bot.cli` (an
import-linter contract)."""
