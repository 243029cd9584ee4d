"""The composition root: builds the adapters from settings and hands out the ports, typed by
them. Tests override what cannot run here (`bootstrap(settings, model=..., sandbox=...)`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.embeddings.local_model import LocalEmbedder
from adapters.embeddings.minilm import MiniLmEmbedder
from adapters.privacy.key_vault import SqlKeyVault
from adapters.privacy.pepper import load_pepper
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.scrubber import PatternScrubber
from adapters.privacy.sealer import AesGcmSealer
from adapters.store import migrate
from adapters.store.clock import SystemClock
from adapters.store.consent import ConsentProjection
from adapters.store.conversations import SqlConversationLog
from adapters.store.database import Database, create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.store.event_store import SqlEventStore
from adapters.store.message_refs import SqlMessageRefs
from adapters.store.outbox import SqlOutbox
from adapters.store.projections import ProjectionRunner
from adapters.vector.catalog import SqlDocumentCatalog
from adapters.vector.index_projection import KnowledgeIndexProjection
from adapters.vector.knowledge_index import SqlKnowledgeIndex
from bot.logs import correlation_id
from bot.settings import Settings
from domain.catalogue import upcasters
from domain.errors import ConfigurationError
from domain.feedback import RateAnswer
from domain.inbound import InboundHandlers
from domain.ingestion import IngestionService
from domain.privacy_service import PrivacyService

if TYPE_CHECKING:
    from adapters.llm.swappable import SwappableModel
    from adapters.store.adapter_blobs import SqlAdapterBlobs
    from bot.serve.model_serving import ModelServing
    from domain.answering import AnswerQuestion
    from domain.auto_rollback import AutoRollback
    from domain.conversation import ChatPlatform, Question
    from domain.grounding.grounder import GroundingSettings
    from domain.language import LanguageModel
    from domain.model_registry import ModelRegistry
    from domain.sandbox import Sandbox
    from domain.scopes import ChannelScopes
    from domain.snippets import RunSnippet
    from domain.source_sync import SourceSync

log = logging.getLogger(__name__)

ANSWER_PROMPT = "v2"  # plain-text layout with thread history (ADR 0006)


@dataclass
class Services:
    db: Database
    store: SqlEventStore
    outbox: SqlOutbox
    projections: ProjectionRunner
    database_label: str
    settings: Settings
    consent: ConsentProjection = field(default_factory=ConsentProjection)
    _privacy: PrivacyService | None = None
    embedder: MiniLmEmbedder | LocalEmbedder = field(default_factory=MiniLmEmbedder)
    _knowledge_projection: KnowledgeIndexProjection | None = None
    _knowledge_index: SqlKnowledgeIndex | None = None
    _language_model: LanguageModel | None = None
    _conversations: SqlConversationLog | None = None
    _snippets: RunSnippet | None = None
    _serving: ModelServing | None = None  # built on first use
    _scopes: ChannelScopes | None = None
    _source_sync: SourceSync | None = None
    # Set by tests (and benches): served instead of the registry's version, run instead of
    # the configured sandbox.
    model_override: LanguageModel | None = None
    sandbox_override: Sandbox | None = None

    @property
    def knowledge_projection(self) -> KnowledgeIndexProjection:
        if self._knowledge_projection is None:
            self._knowledge_projection = KnowledgeIndexProjection(self.embedder)
        return self._knowledge_projection

    @property
    def catalog(self) -> SqlDocumentCatalog:
        return SqlDocumentCatalog(self.db)

    def knowledge_index(self) -> SqlKnowledgeIndex:
        if self._knowledge_index is None:
            self._knowledge_index = SqlKnowledgeIndex(self.db, self.embedder)
        return self._knowledge_index

    def language_model(self) -> LanguageModel:
        """The configured model, loaded on first use (llama.cpp loads in about a second)."""
        if self.model_override is not None:
            return self.model_override
        if self._language_model is None:
            if self.settings.llm == "ollama":
                from adapters.llm.ollama_model import OllamaModel

                self._language_model = OllamaModel(
                    self.settings.ollama_host, self.settings.ollama_model
                )
            else:
                from adapters.llm.llamacpp_model import LlamaCppModel
                from bot.serve.model_serving import served_base

                base = served_base(self.settings)
                self._language_model = LlamaCppModel(base.path, label=base.label)
        return self._language_model

    @property
    def conversations(self) -> SqlConversationLog:
        if self._conversations is None:
            self._conversations = SqlConversationLog(self.db, self.projections)
        return self._conversations

    @property
    def message_refs(self) -> SqlMessageRefs:
        return SqlMessageRefs(self.db)

    def sandbox(self) -> Sandbox:
        """The configured sandbox backend: bubblewrap here, Docker in production."""
        if self.sandbox_override is not None:
            return self.sandbox_override
        if self.settings.sandbox == "docker":
            from adapters.sandbox.docker_backend import DockerSandbox

            return DockerSandbox(self.settings.sandbox_image)
        from adapters.sandbox.bubblewrap import BubblewrapSandbox

        return BubblewrapSandbox()

    async def snippets(self) -> RunSnippet:
        """One runner per process, so "one job per user" and the queue hold across messages."""
        if self._snippets is None:
            from domain.snippets import RunSnippet

            self._snippets = RunSnippet(self.sandbox(), self.store, await self.privacy())
        return self._snippets

    async def inbound_handlers(
        self, answerer: AnswerQuestion, destination: str, wake: Callable[[], None]
    ) -> InboundHandlers:
        """What a platform calls: a question is stored with its pending reply for `destination`
        (then `wake` tells the worker), ratings, snippets, question changes and admin commands."""
        from bot.operations.admin import admin_console
        from domain.question_changes import ChangeQuestion
        from domain.rate_limits import with_rate_limits

        async def accept(question: Question) -> str:
            answer_id = await answerer.accept(question, destination)
            correlation_id.set(answer_id)  # the rest of this event's handling logs under it
            wake()
            return answer_id

        privacy = await self.privacy()
        # Chat votes are capped per person and hour (BUDDY_RATINGS_PER_USER_PER_HOUR); the CLI's
        # `buddy react` is the operator's and is not.
        rater = RateAnswer(self.store, privacy, cap=self.settings.rating_cap())
        handlers = InboundHandlers(
            accept, rater, await self.snippets(), self.message_refs,
            change_question=ChangeQuestion(self.store, privacy), admin=await admin_console(self),
        )  # fmt: skip
        return with_rate_limits(handlers, self.settings.rate_limits(), self.store.delivered)

    async def rater(self) -> RateAnswer:
        return RateAnswer(self.store, await self.privacy())

    async def answerer(
        self, platform: ChatPlatform, grounding: GroundingSettings | None = None,
        **overrides: float | bool,
    ) -> AnswerQuestion:  # fmt: skip
        from adapters.llm.prompt_files import load_prompt
        from domain.answering import AnsweringSettings, AnswerQuestion
        from domain.grounding.grounder import Grounder, GroundingSettings

        # The registry's served version (hot-swappable); a model set explicitly wins (bench).
        model: LanguageModel | None = self.model_override or self._language_model
        if model is None:
            model = await self.served_model()
        settings = AnsweringSettings(**overrides)  # type: ignore[arg-type]
        if window := token_window(model):
            # Leave room in the window for the answer itself.
            settings.count_tokens, context = window
            settings.budget_tokens = context - settings.max_tokens - 64
        index = self.knowledge_index()
        grounder = Grounder(index, self.embedder, grounding or GroundingSettings(k=settings.k))
        return AnswerQuestion(
            self.store, await self.privacy(), index, model,
            load_prompt("answer", ANSWER_PROMPT), platform, settings, self.conversations,
            grounder, await self.scopes(),
        )  # fmt: skip

    async def scopes(self) -> ChannelScopes:
        """The channels' scopes (domain/scopes.py), one fold of their events per process."""
        if self._scopes is None:
            from domain.scopes import ChannelScopes

            self._scopes = ChannelScopes(self.store, await self.privacy())
        return self._scopes

    def source_sync(self) -> SourceSync:
        """Registered sources (domain/source_sync.py), one fold of their events per process."""
        if self._source_sync is None:
            from bot.operations.sources import build_source_sync

            self._source_sync = build_source_sync(self)
        return self._source_sync

    # --- the model registry and the served version (learning loop) ---
    def model_registry(self) -> ModelRegistry:
        from domain.model_registry import ModelRegistry

        return ModelRegistry(self.store)

    def adapter_blobs(self) -> SqlAdapterBlobs:
        """Trained adapters' files in the database: every replica serves what the registry says."""
        from adapters.store.adapter_blobs import SqlAdapterBlobs

        return SqlAdapterBlobs(self.db)

    def model_serving(self) -> ModelServing:
        if self._serving is None:
            if self.model_override is not None:
                raise ConfigurationError("a model set by the caller has no registry to serve")
            from bot.serve.model_serving import ModelServing, llamacpp_loader, ollama_loader

            loader = ollama_loader if self.settings.llm == "ollama" else llamacpp_loader
            self._serving = ModelServing(
                self.model_registry(), loader(self.settings, self.adapter_blobs())
            )
        return self._serving

    async def served_model(self) -> SwappableModel | LanguageModel:
        """The registry's served version (base + adapter), behind a hot-swappable model
        (adapters.llm.swappable.SwappableModel; `context_tokens` is None under Ollama), or the
        model a test set."""
        if self.model_override is not None:
            return self.model_override
        return await self.model_serving().model()

    async def reload_served(self) -> str | None:
        """Swap to the registry's served version if it moved; the version served after."""
        if self.model_override is not None:
            return None
        return await self.model_serving().reload()

    def auto_rollback(self) -> AutoRollback:
        from bot.serve.model_serving import stats_ratings
        from domain.auto_rollback import AutoRollback

        return AutoRollback(
            self.model_registry(), stats_ratings(self.conversations),
            margin=self.settings.rollback_margin, min_ratings=self.settings.rollback_min_ratings,
        )  # fmt: skip

    # --- end of the model registry block ---

    def ingestion(self, strategy: str = "headings") -> IngestionService:
        return IngestionService(self.store, self.catalog, PatternScrubber(), strategy=strategy)

    async def privacy(self) -> PrivacyService:
        """Built on first use: it needs the pepper, which most commands never touch."""
        if self._privacy is None:
            pepper = await load_pepper(self.db, self.settings.data_dir, _secret(self.settings))
            keys = SqlKeyVault(self.db)
            self._privacy = PrivacyService(
                store=self.store,
                scrubber=PatternScrubber(),
                pseudonyms=HmacPseudonymizer(pepper),
                sealer=AesGcmSealer(keys),
                keys=keys,
                clock=SystemClock(),
            )
        return self._privacy

    async def refresh_consent(self) -> None:
        await self.projections.catch_up(self.consent)


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """The configured database, or the embedded PostgreSQL held for the duration."""
    if settings.database_url:
        _prepare_sqlite_dir(settings.database_url)
        yield settings.database_url, settings.database_url.split(":", 1)[0]
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    url = await asyncio.to_thread(embedded.acquire)
    try:
        yield url, f"embedded PostgreSQL ({embedded.pgdata})"
    finally:
        await asyncio.to_thread(embedded.release)


@asynccontextmanager
async def bootstrap(
    settings: Settings, *, upgrade: bool = True, model: LanguageModel | None = None,
    sandbox: Sandbox | None = None, embedder: MiniLmEmbedder | LocalEmbedder | None = None,
) -> AsyncIterator[Services]:  # fmt: skip
    """The services over the configured database; `model`, `sandbox` and `embedder` replace
    the configured ones (tests, benches)."""
    if embedder is None:
        embedder = embedder_for(settings)  # a wrong BUDDY_EMBEDDER fails before the database
    async with database_url(settings) as (url, label):
        db = create_database(url)
        try:
            if upgrade:
                await migrate.upgrade(db)
            store = SqlEventStore(db, upcasters=upcasters())  # old rows read as current
            yield Services(
                db=db,
                store=store,
                outbox=SqlOutbox(db),
                projections=ProjectionRunner(db, store),
                database_label=label,
                settings=settings,
                embedder=embedder,
                model_override=model,
                sandbox_override=sandbox,
            )
        finally:
            await db.dispose()


def token_window(model: object) -> tuple[Callable[[str], int], int] | None:
    """A local model's token counter and context size; None for a model that does not say
    (Ollama, a test's fake): its prompts are then cut by characters."""
    context = getattr(model, "context_tokens", None)
    count = getattr(model, "count_tokens", None)
    if isinstance(context, int) and context > 0 and callable(count):
        return count, context
    return None


def embedder_for(settings: Settings) -> MiniLmEmbedder | LocalEmbedder:
    """BUDDY_EMBEDDER's sentence-transformers directory (checked now, loaded on first use), else
    the embedded all-MiniLM-L6-v2."""
    if settings.embedder is None:
        return MiniLmEmbedder()
    try:
        return LocalEmbedder(settings.embedder.expanduser())
    except ConfigurationError as error:
        raise ConfigurationError(f"BUDDY_EMBEDDER: {error}") from error


def _prepare_sqlite_dir(url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _secret(settings: Settings) -> str | None:
    return settings.pepper.get_secret_value() if settings.pepper else None
