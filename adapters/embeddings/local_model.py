"""A sentence-transformers model from a local directory, loaded offline: never a model hub.

The embedded all-MiniLM-L6-v2 (adapters.embeddings.minilm) is one; `BUDDY_EMBEDDER` names
another directory (what `SentenceTransformer.save()` writes: `modules.json` and the modules)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from domain.errors import ConfigurationError

log = logging.getLogger(__name__)


def check_model_dir(path: Path) -> Path:
    """`path` if it holds a saved sentence-transformers model; else a ConfigurationError."""
    if not path.exists():
        raise ConfigurationError(f"the embedding model directory {path} does not exist")
    if not path.is_dir():
        raise ConfigurationError(f"the embedding model {path} is not a directory")
    if not (path / "modules.json").is_file():
        raise ConfigurationError(
            f"{path} is not a sentence-transformers model (no modules.json): save one with "
            "SentenceTransformer(...).save(path)"
        )
    return path


class SentenceTransformerEmbedder:
    """Loads lazily (torch is slow to import) and embeds in batches off the event loop."""

    model_name: str

    def __init__(self, batch_size: int = 64) -> None:
        self._batch_size = batch_size
        self._model: Any = None

    def _model_dir(self) -> Path:
        raise NotImplementedError

    def _load(self) -> Any:
        if self._model is None:
            path = self._model_dir()
            # Never reach for a model hub, whatever the environment says.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # our own progress goes to stderr
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            log.info("loading embedding model %s from %s", self.model_name, path)
            try:
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
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


class LocalEmbedder(SentenceTransformerEmbedder):
    """The model in a directory the team names (`BUDDY_EMBEDDER`). Its name, which the index
    records on every row, is the directory's name; its dimension is read from the loaded model."""

    def __init__(self, path: Path, batch_size: int = 64) -> None:
        super().__init__(batch_size)
        self._path = check_model_dir(path)
        self.model_name = path.name
        self._dimension: int | None = None

    def _model_dir(self) -> Path:
        return self._path

    @property
    def dimension(self) -> int:
        """The size of its vectors, from the model (loaded by the first question)."""
        if self._dimension is None:
            model = self._load()
            # sentence-transformers 6 renamed it (the old name warns); 3 to 5 have the old one.
            read = getattr(model, "get_embedding_dimension", None)
            size = read() if read else model.get_sentence_embedding_dimension()
            if not isinstance(size, int) or size <= 0:
                raise ConfigurationError(f"the embedding model at {self._path} has no fixed size")
            self._dimension = size
        return self._dimension

    @dimension.setter
    def dimension(self, size: int) -> None:
        # Only so this matches the embedder protocols, which declare a plain attribute.
        self._dimension = size
