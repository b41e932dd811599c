"""Reads for assets and projects. What the user cannot see (another user's, an organization's
they are not in) is as absent as a missing one; lists are of one workspace."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from core.exceptions import NotFound
from organizations.workspace import Workspace, require_change, visible_to
from studio.models import Asset, Generation, Project


def asset_get(*, user, asset_id: str, change: bool = False) -> Asset:
    """An asset the user can see (their own, or their organizations'), or NotFound. `change`:
    they are about to change it, which in an organization is for whoever made it and the
    managers (Forbidden for other members)."""
    asset = Asset.objects.filter(visible_to(user), pk=asset_id).first()
    if asset is None:
        raise NotFound("Asset not found", id=asset_id[:64])
    return require_change(user, asset) if change else asset


def asset_list(
    *,
    user,
    project_id: str | None = None,
    unfiled: bool = False,
    kind: str | None = None,
    workspace: Workspace | None = None,
) -> QuerySet[Asset]:
    """The workspace's assets (default: the user's own), newest first: all, those of one
    project, or (`unfiled`) those in none; optionally of one kind. A project that is not the
    workspace's is NotFound, as everywhere else (an empty page would not tell a typo from an
    empty project)."""
    within = (workspace or Workspace(user)).rows()
    assets = Asset.objects.filter(within)
    if unfiled:
        assets = assets.filter(project__isnull=True)
    elif project_id:
        if not Project.objects.filter(within, pk=project_id).exists():
            raise NotFound("Project not found", id=project_id[:64])
        assets = assets.filter(project_id=project_id)
    if kind:
        assets = assets.filter(kind=kind)
    return assets.order_by("-created_at", "-id")


def _count_in_project(model) -> Coalesce:
    # A correlated subquery per count: two COUNT(DISTINCT) over joins would multiply a
    # project's assets by its generations before counting.
    counted = (
        model.objects.filter(project=OuterRef("pk"))
        .order_by()
        .values("project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _with_counts(projects: QuerySet[Project]) -> QuerySet[Project]:
    return projects.annotate(
        asset_count=_count_in_project(Asset), generation_count=_count_in_project(Generation)
    )


def project_list(*, user, workspace: Workspace | None = None) -> QuerySet[Project]:
    """The workspace's projects (default: the user's own), newest first, each with
    `asset_count` and `generation_count`."""
    within = (workspace or Workspace(user)).rows()
    return _with_counts(Project.objects.filter(within)).order_by("-created_at", "-id")


def project_get(*, user, project_id: str, change: bool = False) -> Project:
    """A project the user can see, with its counts, or NotFound; `change` as asset_get."""
    project = _with_counts(Project.objects.filter(visible_to(user), pk=project_id)).first()
    if project is None:
        raise NotFound("Project not found", id=project_id[:64])
    return require_change(user, project) if change else project
