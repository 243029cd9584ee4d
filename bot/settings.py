"""Settings, read once from the environment (and `.env`) here and passed down from bootstrap."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path("./data/runtime"), alias="BUDDY_DATA_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    llm: Literal["llamacpp", "ollama"] = Field("llamacpp", alias="BUDDY_LLM")
    ollama_host: str = Field("http://127.0.0.1:11434", alias="OLLAMA_HOST")
    ollama_model: str = Field("gemma3:270m", alias="BUDDY_OLLAMA_MODEL")
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

    @property
    def admin_ids(self) -> list[str]:
        return [admin.strip() for admin in self.admins.split(",") if admin.strip()]


def load_settings() -> Settings:
    return Settings()
