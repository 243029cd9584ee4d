"""Serving a trained version on Ollama: the GGUF LoRA adapter is uploaded as a blob, a model of its
own is created from the base tag plus that adapter (`buddy-<version>`), and it is warmed before
anything is switched to it. Earlier tags are left in place, so a rollback needs no rebuild."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx

from domain.errors import AdapterRejected, ModelUnavailable

log = logging.getLogger(__name__)


def tag_for(version: str) -> str:
    return f"buddy-{version}"


class OllamaPromotion:
    def __init__(
        self, host: str, base: str, *, keep_alive: str = "10m", timeout_s: float = 300.0
    ) -> None:
        self._host = host.rstrip("/")
        self._base = base
        self._keep_alive = keep_alive
        self._timeout_s = timeout_s

    async def publish(self, version: str, gguf: Path) -> str:
        """The tag serving `version` (base + adapter), created unless it already holds this
        adapter, and loaded. Raises AdapterRejected when Ollama refuses the adapter."""
        data = await asyncio.to_thread(_read, gguf)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        tag = tag_for(version)
        async with self._client() as client:
            if not await self._holds(client, tag, digest):
                await self._upload(client, digest, data, gguf)
                await self._create(client, tag, gguf, digest)
            await self.warm(tag, client)
        log.info("Ollama serves %s as %s (adapter %s)", version, tag, digest[:19])
        return tag

    async def warm(self, tag: str, client: httpx.AsyncClient | None = None) -> None:
        """Load `tag` into memory now, so the first answer after the switch is not the slow one."""
        body = {"model": tag, "prompt": "", "keep_alive": self._keep_alive, "stream": False}
        if client is None:
            async with self._client() as own:
                await self._post(own, "/api/generate", body, what=f"loading {tag}")
        else:
            await self._post(client, "/api/generate", body, what=f"loading {tag}")

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self._host, timeout=self._timeout_s)

    async def _holds(self, client: httpx.AsyncClient, tag: str, digest: str) -> bool:
        """Whether `tag` exists already, made with this very adapter."""
        response = await self._send(client, "POST", "/api/show", json={"model": tag})
        if response.status_code == 404:
            return False
        _raise_for(response, f"looking up {tag}")
        return digest.split(":", 1)[1] in str(response.json().get("modelfile", ""))

    async def _upload(
        self, client: httpx.AsyncClient, digest: str, data: bytes, gguf: Path
    ) -> None:
        path = f"/api/blobs/{digest}"
        if (await self._send(client, "HEAD", path)).status_code == 200:
            return
        response = await self._send(client, "POST", path, content=data)
        if response.status_code >= 400:
            raise AdapterRejected(gguf, f"Ollama refused the upload: {_error(response)}")

    async def _create(self, client: httpx.AsyncClient, tag: str, gguf: Path, digest: str) -> None:
        body = {"model": tag, "from": self._base, "adapters": {gguf.name: digest},
                "stream": False}  # fmt: skip
        response = await self._send(client, "POST", "/api/create", json=body)
        if response.status_code >= 400 or "error" in _json(response):
            raise AdapterRejected(gguf, f"Ollama cannot create {tag}: {_error(response)}")

    async def _post(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any], *, what: str
    ) -> None:
        _raise_for(await self._send(client, "POST", path, json=body), what)

    async def _send(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        try:
            return await client.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise ModelUnavailable(f"Ollama at {self._host} timed out ({path})") from error
        except (httpx.ConnectError, ConnectionError) as error:
            raise ModelUnavailable(f"no Ollama server answers at {self._host}") from error


def _read(gguf: Path) -> bytes:
    try:
        return gguf.read_bytes()
    except FileNotFoundError:
        raise AdapterRejected(gguf, "the adapter file is missing") from None


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400 or "error" in _json(response):
        raise ModelUnavailable(f"Ollama failed {what}: {_error(response)}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _error(response: httpx.Response) -> str:
    return str(_json(response).get("error") or f"HTTP {response.status_code}")
