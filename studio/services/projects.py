"""Projects (boards): create, rename, delete, duplicate.

Deleting a project never deletes what is in it unless asked: by default its generations and
assets are moved out (to no project). With `delete_contents` its generations are deleted the
way a user deletes one (a running one is cancelled and refunded first, files removed, and
their assets go with them) and so are its uploaded assets; a generation's asset filed here
while its generation is elsewhere is moved out, because only deleting its generation deletes
its file.
"""

import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.exceptions import Conflict, Forbidden, NotFound
from organizations.workspace import Workspace, may_change, workspace_of
from studio import storage
from studio.models import Asset, AssetKind, Generation, Project, new_id
from studio.selectors_assets import project_get
from studio.services.assets import (
    asset_files_delete,
    discard_files,
    model_validate,
    project_lock,
)
from studio.services.generations import generation_delete

logger = logging.getLogger(__name__)

PROJECT_NAME_MAX = 200
COPY_SUFFIX = " (copy)"
# Copies are made within the request: a bigger project would outlast a web worker's timeout.
DUPLICATE_MAX_ASSETS = 200


class ProjectTooLarge(Conflict):
    code = "PROJECT_TOO_LARGE"
    message = "This project has too many assets to duplicate"


@dataclass
class Counts:
    assets: int = 0
    generations: int = 0


@dataclass
class DeleteResult:
    """What a project's deletion did with its contents."""

    moved: Counts = field(default_factory=Counts)
    deleted: Counts = field(default_factory=Counts)


def project_create(
    *, user, name: str, description: str = "", workspace: Workspace | None = None
) -> Project:
    """A new project in the workspace (default: the user's own; viewers may not)."""
    workspace = workspace or Workspace(user)
    workspace.require_maker()
    project = Project(
        id=new_id("prj"),
        user=user,
        organization=workspace.organization,
        name=name.strip(),
        description=description,
    )
    model_validate(project)
    project.save(force_insert=True)
    return project


def project_update(
    *, user, project_id: str, name: str | None = None, description: str | None = None
) -> Project:
    """Rename and/or redescribe; a field left None stays as it is. In an organization, for
    whoever made it and the managers."""
    found = project_get(user=user, project_id=project_id, change=True)
    with transaction.atomic():
        # Locked: a save() racing a delete would otherwise insert the project again.
        project = project_lock(within=Q(pk=found.pk), project_id=project_id)
        if name is not None:
            project.name = name.strip()
        if description is not None:
            project.description = description
        model_validate(project)
        project.save()
    return project


def project_delete(*, user, project_id: str, delete_contents: bool = False) -> DeleteResult:
    """Delete a project; its contents move out, or (`delete_contents`) are deleted (in an
    organization, those the user may delete; the rest move out). In an organization, for
    whoever made it and the managers."""
    project = project_get(user=user, project_id=project_id, change=True)
    result = DeleteResult()
    if delete_contents:
        # Storage I/O, so outside any transaction: each generation and asset goes on its own
        # (files, then row). A failure leaves the project with what is left; deleting again
        # finishes the job.
        result.deleted = _delete_contents(user, project)
    with transaction.atomic():
        # Locked, then emptied and deleted: an upload or move filing a row here meanwhile
        # either finished first (and is moved out now) or waits and then finds no project.
        # Generations before assets: a worker completing a generation holds its row while it
        # writes the assets, so once the generations are moved its new assets are visible.
        locked = Project.objects.select_for_update().filter(pk=project.pk).first()
        if locked is None:
            return result  # deleted meanwhile by another request
        now = timezone.now()
        result.moved.generations = Generation.objects.filter(project=locked).update(
            project=None, updated_at=now
        )
        result.moved.assets = Asset.objects.filter(project=locked).update(
            project=None, updated_at=now
        )
        locked.delete()
    return result


def _delete_contents(user, project: Project) -> Counts:
    deleted = Counts()
    generation_ids = list(
        Generation.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
    )
    assets_of = dict(
        Asset.objects.filter(generation_id__in=generation_ids)
        .order_by()
        .values_list("generation_id")
        .annotate(n=Count("pk"))
    )
    for generation_id in generation_ids:
        try:
            generation_delete(user=user, generation_id=generation_id)
        except (NotFound, Forbidden):
            continue  # deleted meanwhile, or another member's: moved out instead
        deleted.generations += 1
        deleted.assets += assets_of.get(generation_id, 0)
    # Uploads (and copies, which are uploads too); not a generation's asset filed here alone.
    uploads = Asset.objects.filter(project=project, generation__isnull=True).order_by("pk")
    for asset in uploads:
        if not may_change(user, asset):
            continue  # another member's upload: moved out with the rest
        asset_files_delete(asset)
        removed, _ = Asset.objects.filter(pk=asset.pk).delete()
        deleted.assets += 1 if removed else 0
    return deleted


def project_duplicate(*, user, project_id: str) -> Project:
    """A new project "<name> (copy)" with the description and copies of every asset (new ids,
    files copied in storage; a copy is an upload of its own, tied to no generation).
    Generations are not duplicated. Nothing is left behind if a copy fails. The copy is in
    the source's workspace, for those who may make things there."""
    source = project_get(user=user, project_id=project_id)
    workspace_of(user=user, row=source).require_maker()
    # One row past the limit is enough to refuse: a project of 100,000 assets is not loaded.
    in_project = Asset.objects.filter(project=source).order_by("created_at", "pk")
    assets = list(in_project[: DUPLICATE_MAX_ASSETS + 1])
    if len(assets) > DUPLICATE_MAX_ASSETS:
        raise ProjectTooLarge(
            f"A project with more than {DUPLICATE_MAX_ASSETS} assets cannot be duplicated",
            assets=max(source.asset_count, len(assets)),
            limit=DUPLICATE_MAX_ASSETS,
        )
    base = source.name[: PROJECT_NAME_MAX - len(COPY_SUFFIX)].rstrip()
    project = Project(
        id=new_id("prj"),
        user=user,
        organization_id=source.organization_id,
        name=base + COPY_SUFFIX,
        description=source.description,
    )
    model_validate(project)
    copies: list[Asset] = []
    try:
        for asset in assets:
            copy = _asset_copy(asset, project)
            if copy is not None:
                copies.append(copy)
        with transaction.atomic():
            project.save(force_insert=True)
            Asset.objects.bulk_create(copies)
    except BaseException:
        for copy in copies:
            discard_files(copy.storage_prefix)
        raise
    return project


def _asset_copy(asset: Asset, project: Project) -> Asset | None:
    """A new upload asset with copies of `asset`'s files (not yet saved); None when the
    original's file is missing from storage."""
    copy = Asset(
        id=new_id("ast"),
        user_id=project.user_id,
        organization_id=project.organization_id,
        project=project,
        kind=AssetKind.UPLOAD,
        name=asset.name,
        content_type=asset.content_type,
        width=asset.width,
        height=asset.height,
        size=asset.size,
    )
    try:
        original = storage.read(asset.key)
    except FileNotFoundError:
        logger.warning("duplicate: %s has no file at %s; not copied", asset.pk, asset.key)
        return None
    copy.key = f"{copy.storage_prefix}original{PurePosixPath(asset.key).suffix}"
    writes = [(copy.key, original, asset.content_type)]
    if asset.thumbnail_key:
        try:
            thumbnail = storage.read(asset.thumbnail_key)
        except FileNotFoundError:
            thumbnail = None
        if thumbnail is not None:
            copy.thumbnail_key = f"{copy.storage_prefix}thumbnail.webp"
            writes.append((copy.thumbnail_key, thumbnail, "image/webp"))
    try:
        storage.put_many(writes)
    except BaseException:
        discard_files(copy.storage_prefix)  # half-written, and not in the caller's list yet
        raise
    return copy
