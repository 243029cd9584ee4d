"""Settings, read once from the environment (and `.env`) here and passed down from bootstrap."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.milestones import parse_milestones
from domain.rate_limits import Clock, Limit, RateLimits, RatingCap, parse_limit


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("./data/runtime"), alias="BUDDY_DATA_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    llm: Literal["llamacpp", "ollama"] = Field("llamacpp", alias="BUDDY_LLM")
    ollama_host: str = Field("http://127.0.0.1:11434", alias="OLLAMA_HOST")
    ollama_model: str = Field("gemma3:270m", alias="BUDDY_OLLAMA_MODEL")
    # Another GGUF for llama.cpp instead of the embedded Gemma 3 270M (its chat template, if it
    # has one, is used), and a sentence-transformers directory instead of all-MiniLM-L6-v2.
    llamacpp_model: Path | None = Field(None, alias="BUDDY_LLAMACPP_MODEL")
    embedder: Path | None = Field(None, alias="BUDDY_EMBEDDER")
    sandbox: Literal["bwrap", "docker"] = Field("bwrap", alias="BUDDY_SANDBOX")
    # Pinned by tag or digest; the Docker backend refuses an untagged or `latest` image.
    sandbox_image: str = Field("python:3.11-slim-bookworm", alias="BUDDY_SANDBOX_IMAGE")
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str | None = Field(None, alias="SLACK_API_URL")
    discord_token: SecretStr | None = Field(None, alias="DISCORD_TOKEN")
    discord_api_url: str | None = Field(None, alias="DISCORD_API_URL")
    admins: str = Field("", alias="BUDDY_ADMINS")
    port: int = Field(3000, alias="BUDDY_PORT", ge=0, le=65535)  # 0: any free port
    host: str = Field("0.0.0.0", alias="BUDDY_HOST")
    pepper: SecretStr | None = Field(None, alias="BUDDY_PEPPER")
    retention_days: int = Field(90, alias="BUDDY_RETENTION_DAYS", ge=1)
    log_level: str = Field("WARNING", alias="BUDDY_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field("text", alias="BUDDY_LOG_FORMAT")

    # Training (the learning loop). BUDDY_TRAIN_BASE: Hugging Face weights of the served base;
    # unset, the embedded GGUF is de-quantised once into the data dir.
    train_base: Path | None = Field(None, alias="BUDDY_TRAIN_BASE")
    lora_rank: int = Field(8, alias="BUDDY_LORA_RANK", ge=1)
    lora_alpha: int = Field(16, alias="BUDDY_LORA_ALPHA", ge=1)
    lora_targets: str = Field("q_proj,k_proj,v_proj,o_proj", alias="BUDDY_LORA_TARGETS")
    train_epochs: int = Field(2, alias="BUDDY_TRAIN_EPOCHS", ge=1)
    train_learning_rate: float = Field(2e-4, alias="BUDDY_TRAIN_LR", gt=0)
    train_batch_size: int = Field(4, alias="BUDDY_TRAIN_BATCH", ge=1)
    train_max_length: int = Field(512, alias="BUDDY_TRAIN_MAX_LENGTH", ge=32)
    promotion_margin: float = Field(0.02, alias="BUDDY_PROMOTION_MARGIN", ge=0, lt=1)
    golden_set: Path | None = Field(None, alias="BUDDY_GOLDEN_SET")  # default: data dir
    canaries: Path | None = Field(None, alias="BUDDY_CANARIES")  # default: data dir

    @property
    def admin_ids(self) -> list[str]:
        return [admin.strip() for admin in self.admins.split(",") if admin.strip()]

    # Milestones and the scheduler (`buddy serve`): training starts when the curated examples
    # reach a milestone; the scheduler checks every few minutes (BUDDY_SCHEDULER=0: no jobs).
    milestones: str = Field("100,500,1000,5000,10000,25000,50000", alias="BUDDY_MILESTONES")
    scheduler: bool = Field(True, alias="BUDDY_SCHEDULER")
    milestone_check_minutes: float = Field(5.0, alias="BUDDY_MILESTONE_CHECK_MINUTES", gt=0)

    @field_validator("llamacpp_model", "embedder", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("milestones")
    @classmethod
    def _milestones_parse(cls, value: str) -> str:
        parse_milestones(value)  # a ValueError names the bad setting at start
        return value

    @property
    def milestone_counts(self) -> tuple[int, ...]:
        return parse_milestones(self.milestones)

    # Serving the registry's version (`buddy serve` polls it and hot-swaps) and automatic
    # rollback: the served version's negative-rating rate may exceed the previous version's by
    # at most the margin, judged over at least the minimum number of its own ratings.
    model_watch_s: float = Field(5.0, alias="BUDDY_MODEL_WATCH_S", gt=0)
    rollback_margin: float = Field(0.15, alias="BUDDY_ROLLBACK_MARGIN", ge=0, le=1)
    rollback_min_ratings: int = Field(20, alias="BUDDY_ROLLBACK_MIN_RATINGS", ge=1)
    rollback_check_minutes: float = Field(5.0, alias="BUDDY_ROLLBACK_CHECK_MINUTES", gt=0)
    # How often `buddy serve` looks for registered sources due a sync (each has its own --every).
    source_check_minutes: float = Field(5.0, alias="BUDDY_SOURCE_CHECK_MINUTES", gt=0)

    # Abuse limits (`buddy serve`). Questions and snippet runs: "N/SECONDS", N in a burst,
    # refilled at N per SECONDS ("6/60": six a minute); a bare N is per minute; 0: no limit.
    # Per user and per channel; a refused one gets a reply saying when to try again. Votes: at
    # most this many per user per rolling hour count (the rest are stored, counted nowhere).
    # The limits are per process: behind N replicas a user can get up to N times as much.
    rate_questions_per_user: str = Field("6/60", alias="BUDDY_RATE_QUESTIONS_PER_USER")
    rate_questions_per_channel: str = Field("30/60", alias="BUDDY_RATE_QUESTIONS_PER_CHANNEL")
    rate_snippets_per_user: str = Field("4/60", alias="BUDDY_RATE_SNIPPETS_PER_USER")
    rate_snippets_per_channel: str = Field("12/60", alias="BUDDY_RATE_SNIPPETS_PER_CHANNEL")
    ratings_per_user_per_hour: int = Field(60, alias="BUDDY_RATINGS_PER_USER_PER_HOUR", ge=0)

    @field_validator(
        "rate_questions_per_user", "rate_questions_per_channel", "rate_snippets_per_user",
        "rate_snippets_per_channel", mode="before",
    )  # fmt: skip
    @classmethod
    def _rate_limit_parses(cls, value: object) -> object:
        if isinstance(value, int):
            value = str(value)  # BUDDY_RATE_...=0 set in code
        if isinstance(value, str):
            parse_limit(value)  # a ValueError names the bad setting at start
        return value

    def rate_limit(self, name: str) -> Limit:
        """One of the rate_* settings, parsed."""
        return parse_limit(str(getattr(self, name)))

    def rate_limits(self, clock: Clock | None = None) -> RateLimits:
        """The question and snippet buckets these settings describe (all 0: none)."""
        return RateLimits(
            questions_per_user=self.rate_limit("rate_questions_per_user"),
            questions_per_channel=self.rate_limit("rate_questions_per_channel"),
            snippets_per_user=self.rate_limit("rate_snippets_per_user"),
            snippets_per_channel=self.rate_limit("rate_snippets_per_channel"),
            clock=clock or time.monotonic,
        )  # fmt: skip

    def rating_cap(self, clock: Clock | None = None) -> RatingCap | None:
        """The hourly vote cap, or None when BUDDY_RATINGS_PER_USER_PER_HOUR is 0."""
        if self.ratings_per_user_per_hour == 0:
            return None
        return RatingCap(self.ratings_per_user_per_hour, clock=clock or time.monotonic)


def load_settings() -> Settings:
    return Settings()
