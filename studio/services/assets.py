"""Assets: uploaded source images and the stored outputs of jobs, filed into projects.

Files are written before the row and outside any transaction (STYLE.md 5); a row that cannot
be written takes its files with it. Whatever files rows into a project locks the project's
row first, in the order project -> generations -> assets, so that filing cannot race the
project's deletion (studio.services.projects.project_delete) and two filings cannot deadlock.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from core.exceptions import Conflict, DomainError, NotFound
from organizations.workspace import Workspace, rows_of
from studio import imaging, storage
from studio.models import Asset, AssetKind, Generation, Project, Status, new_id
from studio.selectors_assets import asset_get
from studio.uploads import normalise_upload

logger = logging.getLogger(__name__)

NAME_MAX = 255
ASSET_PREFIX = "ast_"
UNSET: Any = object()  # "leave as it is", where None means "no project"


class AssetBelongsToGeneration(Conflict):
    code = "ASSET_BELONGS_TO_GENERATION"
    message = "This file is a generation's result: delete the generation instead"


class GenerationNotCompleted(Conflict):
    code = "GENERATION_NOT_COMPLETED"
    message = "The generation has no result yet"


# --- Shared with the project services --------------------------------------------------------


def model_validate(instance: models.Model) -> None:
    """full_clean(), reported as a 400 naming each field (not a 500)."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        details = exc.message_dict
        field, messages = next(iter(details.items()))
        raise DomainError(f"Invalid request: {field}: {messages[0]}", **details) from None


def project_lock(*, within: models.Q, project_id: str) -> Project:
    """The project among `within` (the rows of a workspace) with its row locked until the
    transaction ends (call inside one); NotFound when it is missing or elsewhere."""
    project = Project.objects.select_for_update(no_key=True).filter(within, pk=project_id).first()
    if project is None:
        raise NotFound("Project not found", id=project_id[:64])
    return project


def project_check(*, within: models.Q, project_id: str | None) -> None:
    """NotFound unless `project_id` is empty or a project among `within` (no lock: a check
    before slow work; the lock is taken where the row is written)."""
    if project_id and not Project.objects.filter(within, pk=project_id).exists():
        raise NotFound("Project not found", id=project_id[:64])


def asset_files_delete(asset: Asset) -> None:
    """Remove an asset's stored files: its own folder, or (an asset whose file lives
    elsewhere) exactly its keys."""
    if asset.key.startswith(asset.storage_prefix):
        storage.delete_prefix(asset.storage_prefix)
    else:
        storage.delete([key for key in (asset.key, asset.thumbnail_key) if key])


def discard_files(prefix: str) -> None:
    """Best-effort removal of files written for a row that was never created."""
    try:
        storage.delete_prefix(prefix)
    except storage.StorageUnavailable:
        logger.warning("could not remove orphan files under %s", prefix)


def clean_name(value: str, default: str = "") -> str:
    return (value or "").strip()[:NAME_MAX] or default


# --- Uploads ---------------------------------------------------------------------------------


def asset_upload(
    *,
    user,
    data: bytes,
    filename: str,
    name: str = "",
    project_id: str | None = None,
    workspace: Workspace | None = None,
) -> Asset:
    """Store an uploaded source image (checked and normalised by studio.uploads) as an asset
    of the workspace (default: the user's own; viewers may not), optionally filed into one of
    its projects. Nothing is stored when it is refused."""
    workspace = workspace or Workspace(user)
    workspace.require_maker()
    within = workspace.rows()
    project_check(within=within, project_id=project_id)  # before anything is decoded or stored
    clean = normalise_upload(
        data, max_bytes=settings.UPLOAD_MAX_BYTES, max_pixels=settings.UPLOAD_MAX_PIXELS
    )
    thumbnail, _, _ = imaging.thumbnail_webp(clean.data)
    asset = Asset(
        id=new_id("ast"),
        user=user,
        organization=workspace.organization,
        kind=AssetKind.UPLOAD,
        name=clean_name(name) or clean_name(filename, default="upload"),
        content_type=clean.content_type,
        width=clean.width,
        height=clean.height,
        size=len(clean.data),
    )
    asset.key = f"{asset.storage_prefix}original.{clean.extension}"
    asset.thumbnail_key = f"{asset.storage_prefix}thumbnail.webp"
    try:
        storage.put_many(
            [
                (asset.key, clean.data, clean.content_type),
                (asset.thumbnail_key, thumbnail, "image/webp"),
            ]
        )
        with transaction.atomic():
            if project_id:
                asset.project = project_lock(within=within, project_id=project_id)
            model_validate(asset)
            asset.save(force_insert=True)
    except BaseException:
        # Half-written files, or a row that could not be written (the project was deleted
        # meanwhile): the files go too.
        discard_files(asset.storage_prefix)
        raise
    return asset


# --- Changes ---------------------------------------------------------------------------------


def asset_update(*, user, asset_id: str, name: str | None = None, project_id=UNSET) -> Asset:
    """Rename an asset and/or file it: `project_id` a project of the asset's workspace, or
    None for none; left out, the asset stays where it is. In an organization, for whoever
    made it and the managers."""
    found = asset_get(user=user, asset_id=asset_id, change=True)
    within = rows_of(user=found.user_id, organization_id=found.organization_id)
    with transaction.atomic():
        project = None
        if project_id is not UNSET and project_id is not None:
            project = project_lock(within=within, project_id=project_id)  # project before asset
        asset = Asset.objects.select_for_update().filter(pk=found.pk).first()
        if asset is None:
            raise NotFound("Asset not found", id=asset_id[:64])
        if name is not None:
            asset.name = clean_name(name)
        if project_id is not UNSET:
            asset.project = project
        model_validate(asset)
        asset.save()
    return asset


def asset_delete(*, user, asset_id: str) -> None:
    """Delete an uploaded asset: its files, then its row. A generation's result is refused
    (409): its file is the generation's, deleted with the generation."""
    asset = asset_get(user=user, asset_id=asset_id, change=True)
    if asset.generation_id:
        raise AssetBelongsToGeneration(generation=asset.generation_id)
    # Files first: if storage is down the row stays, and deleting again finishes the job.
    asset_files_delete(asset)
    Asset.objects.filter(pk=asset.pk).delete()


def assets_move(
    *, user, ids: list[str], project_id: str | None, workspace: Workspace | None = None
) -> int:
    """File assets (`ast_…`) and generations (`img_…`, `vid_…`, `op_…`, which take their
    assets along) of the workspace (default: the user's own; viewers may not) into one of
    its projects, or out of any (None). All or nothing: an id that is not the workspace's is
    NotFound, naming it, and nothing moves. Returns how many distinct ids were moved."""
    workspace = workspace or Workspace(user)
    workspace.require_maker()
    within = workspace.rows()
    ids = list(dict.fromkeys(ids))
    asset_ids = [i for i in ids if i.startswith(ASSET_PREFIX)]
    generation_ids = [i for i in ids if not i.startswith(ASSET_PREFIX)]
    now = timezone.now()
    with transaction.atomic():
        project = project_lock(within=within, project_id=project_id) if project_id else None
        # Rows locked in one order (project, generations, assets; each by id): two moves of
        # overlapping sets wait for each other instead of deadlocking.
        generations = set(
            Generation.objects.select_for_update()
            .filter(within, pk__in=generation_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        assets = set(
            Asset.objects.select_for_update()
            .filter(within, pk__in=asset_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        missing = next((i for i in ids if i not in generations and i not in assets), None)
        if missing is not None:
            raise NotFound("Asset or generation not found", id=missing[:64])
        Generation.objects.filter(pk__in=generations).update(project=project, updated_at=now)
        Asset.objects.filter(
            models.Q(pk__in=assets) | models.Q(generation_id__in=generations)
        ).update(project=project, updated_at=now)
    return len(ids)


# --- Sources for operations ------------------------------------------------------------------


def asset_for_source(*, within: models.Q, source_id: str) -> Asset:
    """The asset an operation works on: an asset id, or a completed generation's id (its
    first output), among `within` (the rows of the job's workspace). NotFound for what is
    missing or elsewhere; a generation that has not completed is GenerationNotCompleted (409)."""
    if source_id.startswith(ASSET_PREFIX):
        asset = Asset.objects.filter(within, pk=source_id).first()
        if asset is None:
            raise NotFound("Asset not found", id=source_id[:64])
        return asset
    generation = Generation.objects.filter(within, pk=source_id).first()
    if generation is None:
        raise NotFound("Asset or generation not found", id=source_id[:64])
    if generation.status != Status.COMPLETED:
        raise GenerationNotCompleted(
            f"Generation is {generation.status}; only a completed one can be a source",
            generation=generation.id,
            status=generation.status,
        )
    outputs = Asset.objects.filter(generation=generation)
    asset = None
    if generation.outputs:
        asset = outputs.filter(key=generation.outputs[0].get("key", "")).first()
    if asset is None:
        asset = outputs.order_by("created_at", "key").first()
    if asset is None:
        raise NotFound("The generation has no stored result", id=generation.id)
    return asset
