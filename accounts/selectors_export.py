"""Reads for data exports: what goes into a user's ZIP (the files and the JSON document), and
the shape the API and the account page show an export in."""

import math
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import DataExport, ExportStatus, Subscription, User
from core.serializers import iso
from pipelines.models import Execution, Rating, Template
from pipelines.services.templates import step_as_dict, template_document
from studio import storage
from studio.models import Asset, AssetKind, Generation, Project, Status, Style, Webhook
from studio.presenters import download_name
from tokens.apis import EntryOutput
from tokens.models import TokenAccount
from tokens.selectors import entry_list

EXPORT_FORMAT = "craftframe.export"
EXPORT_VERSION = 1
DOCUMENT_NAME = "craftframe-data.json"


@dataclass(frozen=True)
class ExportFile:
    """One stored file to copy into the ZIP, at `path`."""

    path: str
    key: str


def export_files(*, user: User) -> list[ExportFile]:
    """Every file of the user's own: each completed generation's results (named as their
    download links name them) and each upload. Generated assets are the generations' files."""
    files = []
    generations = Generation.objects.filter(user=user, status=Status.COMPLETED).order_by(
        "created_at"
    )
    for generation in generations.only("id", "outputs"):
        for index, output in enumerate(generation.outputs):
            name = download_name(generation, index, output["key"])
            files.append(ExportFile(f"generations/{name}", output["key"]))
    uploads = Asset.objects.filter(user=user, kind=AssetKind.UPLOAD).order_by("created_at")
    for asset in uploads.only("id", "key"):
        files.append(ExportFile(_upload_path(asset), asset.key))
    return files


def _upload_path(asset: Asset) -> str:
    return f"uploads/{asset.id}.{asset.key.rsplit('.', 1)[-1]}"


def export_document(*, user: User, export: DataExport, missing: list[str]) -> dict:
    """The JSON beside the files: the account, every generation's parameters and metadata,
    uploads, projects, styles, templates, executions, ratings, the ledger and the webhooks.
    `missing` names files that were listed but no longer in storage."""
    account = TokenAccount.objects.filter(user=user).first()
    subscription = Subscription.objects.filter(user=user).select_related("plan").first()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "export": export.id,
        "exportedAt": iso(export.started_at),
        "user": {
            "id": str(user.pk),
            "email": user.email,
            "name": user.name,
            "createdAt": iso(user.date_joined),
            "lastLogin": iso(user.last_login),
            "plan": subscription.plan.code if subscription else None,
        },
        "generations": [_generation(g) for g in _generations(user)],
        "assets": [_asset(a) for a in Asset.objects.filter(user=user).order_by("created_at")],
        "projects": [_project(p) for p in Project.objects.filter(user=user).order_by("created_at")],
        "styles": [_style(s) for s in Style.objects.filter(user=user).order_by("created_at")],
        "templates": [_template(t) for t in _templates(user)],
        "executions": [_execution(e) for e in _executions(user)],
        "ratings": [
            {"template": rating.template_id, "score": rating.score, "at": iso(rating.updated_at)}
            for rating in Rating.objects.filter(user=user).order_by("created_at")
        ],
        "ledger": _ledger(account),
        "webhooks": [_webhook(w) for w in _webhooks(user)],
        "missingFiles": missing,
    }


def _generations(user: User):
    return Generation.objects.filter(user=user).order_by("created_at")


def _generation(generation: Generation) -> dict:
    files = []
    if generation.status == Status.COMPLETED:
        for index, output in enumerate(generation.outputs):
            name = download_name(generation, index, output["key"])
            files.append(
                {
                    "path": f"generations/{name}",
                    "contentType": output.get("content_type"),
                    "width": output.get("width"),
                    "height": output.get("height"),
                    "size": output.get("size"),
                }
            )
    return {
        "id": generation.id,
        "type": generation.kind,
        "status": generation.status,
        "prompt": generation.prompt,
        "enhancedPrompt": generation.enhanced_prompt,
        "negativePrompt": generation.negative_prompt,
        "model": generation.model,
        "category": generation.category,
        "style": generation.style,
        "seed": generation.seed,
        "operation": generation.operation,
        "params": generation.params,
        "source": generation.source_asset_id,
        "provider": generation.source,
        "project": generation.project_id,
        "credits": generation.cost,
        "starred": generation.starred,
        "error": generation.error,
        "providerAttempts": generation.provider_attempts,
        "retryOf": generation.retry_of_id,
        "createdAt": iso(generation.created_at),
        "startedAt": iso(generation.started_at),
        "finishedAt": iso(generation.finished_at),
        "generationTime": generation.generation_time,
        "files": files,
    }


def _asset(asset: Asset) -> dict:
    body = {
        "id": asset.id,
        "kind": asset.kind,
        "name": asset.name,
        "project": asset.project_id,
        "generation": asset.generation_id,
        "contentType": asset.content_type,
        "width": asset.width,
        "height": asset.height,
        "size": asset.size,
        "createdAt": iso(asset.created_at),
    }
    if asset.kind == AssetKind.UPLOAD:
        body["path"] = _upload_path(asset)
    return body


def _project(project: Project) -> dict:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }


def _style(style: Style) -> dict:
    return {
        "id": style.id,
        "name": style.name,
        "palette": style.palette,
        "descriptors": style.descriptors,
        "promptSuffix": style.prompt_suffix,
        "references": sorted(style.references.values_list("id", flat=True)),
        "createdAt": iso(style.created_at),
    }


def _templates(user: User):
    return (
        Template.objects.filter(owner=user)
        .prefetch_related("inputs", "pipelines__steps")
        .order_by("created_at")
    )


def _template(template: Template) -> dict:
    return {
        "id": template.id,
        "visibility": template.visibility,
        "version": template.version,
        "createdAt": iso(template.created_at),
        # The importable document (POST /templates/import takes it back), then every pipeline.
        "document": template_document(template),
        "pipelines": [
            {
                "id": pipeline.id,
                "name": pipeline.name,
                "steps": [step_as_dict(step) for step in pipeline.steps.all()],
            }
            for pipeline in template.pipelines.all()
        ],
    }


def _executions(user: User):
    return Execution.objects.filter(user=user).prefetch_related("steps").order_by("created_at")


def _execution(execution: Execution) -> dict:
    return {
        "id": execution.id,
        "template": execution.template_id,
        "templateVersion": execution.template_version,
        "snapshot": execution.snapshot,
        "inputs": execution.inputs,
        "status": execution.status,
        "cost": execution.cost,
        "error": execution.error,
        "createdAt": iso(execution.created_at),
        "finishedAt": iso(execution.finished_at),
        "steps": [
            {
                "position": step.position + 1,
                "operation": step.operation,
                "status": step.status,
                "generation": step.generation_id,
                "output": step.output,
                "charged": step.charged,
            }
            for step in execution.steps.all()
        ],
    }


def _ledger(account: TokenAccount | None) -> dict:
    if account is None:
        return {"balance": 0, "held": 0, "entries": []}
    entries = entry_list(account=account).order_by("id")
    return {
        "balance": account.balance,
        "held": account.held,
        "periodStart": iso(account.period_start),
        "periodEnd": iso(account.period_end),
        # The shape GET /tokens lists them in, oldest first.
        "entries": EntryOutput(entries.iterator(), many=True).data,
    }


def _webhooks(user: User):
    return Webhook.objects.filter(user=user).prefetch_related("deliveries").order_by("created_at")


def _webhook(webhook: Webhook) -> dict:
    # The signing secret stays out: it was shown once, and a file travels further than a page.
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": webhook.events,
        "isActive": webhook.is_active,
        "createdAt": iso(webhook.created_at),
        "deliveries": [
            {
                "id": delivery.id,
                "event": delivery.event,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "createdAt": iso(delivery.created_at),
                "deliveredAt": iso(delivery.delivered_at),
            }
            for delivery in webhook.deliveries.all()
        ],
    }


def contents_of(document: dict, files: int) -> dict:
    """How many of each thing an export holds (shown before it is downloaded)."""
    return {
        "files": files,
        "generations": len(document["generations"]),
        "assets": len(document["assets"]),
        "projects": len(document["projects"]),
        "styles": len(document["styles"]),
        "templates": len(document["templates"]),
        "executions": len(document["executions"]),
        "ledgerEntries": len(document["ledger"]["entries"]),
        "webhooks": len(document["webhooks"]),
    }


# --- How an export is shown -------------------------------------------------------------------


def export_list(*, user: User):
    return DataExport.objects.filter(user=user).order_by("-created_at")


def export_latest(*, user: User) -> DataExport | None:
    return export_list(user=user).first()


def export_body(export: DataExport, request=None, *, now=None) -> dict:
    """An export as the API returns it: its status, what it holds, and while it lasts a
    signed download URL that stops working when the export expires."""
    now = now or timezone.now()
    url = None
    if export.status == ExportStatus.COMPLETED and export.key and export.expires_at > now:
        seconds = math.ceil((export.expires_at - now).total_seconds())
        url = storage.url_for(export.key, expires=seconds, filename=download_filename(export))
        if request is not None and not url.startswith(("http://", "https://")):
            url = request.build_absolute_uri(url)
    return {
        "id": export.id,
        "status": export.status,
        "createdAt": export.created_at,
        "startedAt": export.started_at,
        "completedAt": export.finished_at if export.status != ExportStatus.FAILED else None,
        "expiresAt": export.expires_at,
        "size": export.size,
        "contents": export.contents or None,
        "url": url,
        "error": export.error or None,
    }


def download_filename(export: DataExport) -> str:
    return f"craftframe-export-{export.created_at:%Y-%m-%d}.zip"
