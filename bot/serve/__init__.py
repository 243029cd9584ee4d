"""`buddy serve`'s runtime: the server (`server`: platforms, HTTP, graceful stop), the answer
worker (`worker`), the jobs on a timer (`scheduled_jobs`) and the served model with its hot-swap
(`model_serving`, which bootstrap builds for every process that answers). Nothing here imports
`bot.cli` (an import-linter contract)."""
