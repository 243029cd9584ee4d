"""Curation, dataset export, LoRA fine-tuning, evaluation and the model registry (later issues)."""
