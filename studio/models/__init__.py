"""The studio's models: jobs (generations and operations), assets and projects, styles,
webhooks, and the landing page's samples."""

from studio.models.assets import Asset, AssetKind, Project, Style, new_id
from studio.models.generations import (
    ACTIVE,
    FINISHED,
    ID_PREFIX,
    Generation,
    Kind,
    Status,
    new_generation_id,
)
from studio.models.joblogs import JobLogEntry, LogEvent
from studio.models.samples import Sample
from studio.models.webhooks import (
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)

__all__ = [
    "ACTIVE",
    "FINISHED",
    "ID_PREFIX",
    "Asset",
    "AssetKind",
    "DeliveryStatus",
    "Generation",
    "JobLogEntry",
    "Kind",
    "LogEvent",
    "Project",
    "Sample",
    "Status",
    "Style",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "new_generation_id",
    "new_id",
]
