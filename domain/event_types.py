"""Event type strings, one namespace per bounded context.

A type string is part of the stored data: it never changes once written. Emit and read sites
name these constants instead of spelling the string; `domain/catalogue.py` holds each type's
schema version and required payload fields.
"""

from __future__ import annotations

from typing import Final


class ConversationEvents:
    QUESTION_ASKED: Final = "conversation.QuestionAsked"
    FOLLOW_UP_ASKED: Final = "conversation.FollowUpAsked"
    ANSWER_GIVEN: Final = "conversation.AnswerGiven"
    ANSWER_FAILED: Final = "conversation.AnswerFailed"
    QUESTION_EDITED: Final = "conversation.QuestionEdited"
    QUESTION_DELETED: Final = "conversation.QuestionDeleted"
    ASKED: Final = (QUESTION_ASKED, FOLLOW_UP_ASKED)  # both open an exchange


class FeedbackEvents:
    RATING_GIVEN: Final = "feedback.RatingGiven"
    RATING_RETRACTED: Final = "feedback.RatingRetracted"


class SandboxEvents:
    SNIPPET_RUN: Final = "sandbox.SnippetRun"


class KnowledgeEvents:
    SOURCE_REGISTERED: Final = "knowledge.SourceRegistered"
    DOCUMENT_INGESTED: Final = "knowledge.DocumentIngested"
    DOCUMENT_REMOVED: Final = "knowledge.DocumentRemoved"
    CHANNEL_SCOPED: Final = "knowledge.ChannelScoped"  # a channel's sources (domain/scopes.py)
    # Registered sources (`buddy sources add`), kept current by syncs: domain/source_sync.py
    SOURCE_ADDED: Final = "knowledge.SourceAdded"
    SOURCE_SYNCED: Final = "knowledge.SourceSynced"
    SOURCE_SYNC_FAILED: Final = "knowledge.SourceSyncFailed"
    SOURCE_REMOVED: Final = "knowledge.SourceRemoved"


class PrivacyEvents:
    USER_OPTED_OUT: Final = "privacy.UserOptedOut"
    USER_OPTED_IN: Final = "privacy.UserOptedIn"
    CHANNEL_EXCLUDED: Final = "privacy.ChannelExcluded"
    USER_ERASED: Final = "privacy.UserErased"


class TrainingEvents:
    DATASET_CURATED: Final = "training.DatasetCurated"
    TRAINING_STARTED: Final = "training.TrainingStarted"
    TRAINING_FINISHED: Final = "training.TrainingFinished"
    TRAINING_FAILED: Final = "training.TrainingFailed"
    MODEL_EVALUATED: Final = "training.ModelEvaluated"
    MODEL_PROMOTED: Final = "training.ModelPromoted"
    MODEL_ROLLED_BACK: Final = "training.ModelRolledBack"
    SYNTHETIC_EXAMPLE_GENERATED: Final = "training.SyntheticExampleGenerated"  # cold start


class AdminEvents:
    ADMIN_COMMAND_ISSUED: Final = "admin.AdminCommandIssued"  # refused attempts too
