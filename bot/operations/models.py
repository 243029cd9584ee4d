"""The model registry as admins read it: every version with its lineage and figures, the base's
license (`buddy models` and `/buddy models` in chat)."""

from __future__ import annotations

from typing import Any

from bot.settings import Settings
from domain.errors import BuddyError

BASE_LICENSE = "Gemma Terms of Use"
EMBEDDED_BASE = "gemma-3-270m-q4_k_m"  # the GGUF llama.cpp serves (its stem)


def base_model(settings: Settings) -> str:
    if settings.llm == "ollama":
        return settings.ollama_model
    return settings.llamacpp_model.stem if settings.llamacpp_model else EMBEDDED_BASE


def base_license(settings: Settings) -> str:
    """The served base's license: Gemma's for the embedded model and Ollama's default tag; a
    user-supplied GGUF's `general.license` when it declares one, else unknown."""
    from adapters.llm.llamacpp_model import USER_LICENSE, check_gguf, declared_license

    if settings.llm == "ollama":
        return BASE_LICENSE if settings.ollama_model.startswith("gemma3") else USER_LICENSE
    if settings.llamacpp_model is None:
        return BASE_LICENSE
    try:
        return declared_license(check_gguf(settings.llamacpp_model.expanduser()))
    except BuddyError:  # `buddy models` still lists the versions; serving reports the error
        return USER_LICENSE


def models_json(state: Any, settings: Settings) -> dict[str, Any]:
    """Every version, oldest first, after the base; `state` is a domain RegistryState."""
    served = state.served
    license_name = base_license(settings)
    entries: list[dict[str, Any]] = [{
        "version": "base", "status": "base", "served": served == "base",
        "base": base_model(settings), "license": license_name, "dataset_hash": None,
        "config": {}, "metrics": {}, "evaluation": None, "adapter_sha256": None, "gguf": None,
        "created_at": None,
    }]  # fmt: skip
    for version in state.versions.values():
        adapter = version.adapter
        entries.append({
            "version": version.version, "status": version.status,
            "served": served == version.version, "base": version.base,
            "license": license_name, "dataset_hash": version.dataset_hash,
            "config": version.config, "metrics": version.metrics,
            "evaluation": version.evaluation,
            "adapter_sha256": adapter.sha256 if adapter else None,
            "gguf": adapter.gguf if adapter else None,
            "created_at": version.created_at.isoformat() if version.created_at else None,
            **({"error": version.error} if version.error else {}),
        })  # fmt: skip
    previous = state.previous
    return {
        "served": served,
        "rollback_to": previous.version if previous else None,
        "history": [entry.version for entry in state.stack],
        "next_version": state.next_version(),
        "versions": entries,
    }


def models_lines(document: dict[str, Any]) -> list[str]:
    lines = []
    for entry in document["versions"]:
        mark = "*" if entry["served"] else " "
        figures = _figures(entry)
        sha = (entry["adapter_sha256"] or "")[:12] or "-"
        dataset = (entry["dataset_hash"] or "")[:12] or "-"
        created = (entry["created_at"] or "")[:19] or "-"
        lines.append(
            f"{mark} {entry['version']:<6} {entry['status']:<11} base {entry['base']} "
            f"dataset {dataset} adapter {sha} {created}{figures}"
        )
    license_name = document["versions"][0]["license"]  # the base's, which adapters inherit
    lines.append(f"served: {document['served']}; rollback goes to "
                 f"{document['rollback_to'] or 'nothing'}; license: {license_name}")  # fmt: skip
    return lines


def _figures(entry: dict[str, Any]) -> str:
    shown = []
    metrics = entry["metrics"] or {}
    if "train_loss" in metrics:
        shown.append(f"train_loss {metrics['train_loss']}")
    evaluation = (entry["evaluation"] or {}).get("metrics") or {}
    for key in ("eval_loss", "served_eval_loss", "golden_score"):
        if evaluation.get(key) is not None:
            shown.append(f"{key} {evaluation[key]}")
    return ("  " + ", ".join(shown)) if shown else ""
