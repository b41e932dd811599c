"""Reads for assets and projects. Another user's object is as absent as a missing one."""

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from core.exceptions import NotFound
from studio.models import Asset, Generation, Project


def asset_get(*, user, asset_id: str) -> Asset:
    """The user's asset, or NotFound."""
    asset = Asset.objects.filter(pk=asset_id, user=user).first()
    if asset is None:
        raise NotFound("Asset not found", id=asset_id[:64])
    return asset


def asset_list(
    *, user, project_id: str | None = None, unfiled: bool = False, kind: str | None = None
) -> QuerySet[Asset]:
    """The user's assets, newest first: all, those of one project, or (`unfiled`) those in
    none; optionally of one kind. A project that is not the user's is NotFound, as everywhere
    else (an empty page would not tell a typo from an empty project)."""
    assets = Asset.objects.filter(user=user)
    if unfiled:
        assets = assets.filter(project__isnull=True)
    elif project_id:
        if not Project.objects.filter(pk=project_id, user=user).exists():
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


def project_list(*, user) -> QuerySet[Project]:
    """The user's projects, newest first, each with `asset_count` and `generation_count`."""
    return _with_counts(Project.objects.filter(user=user)).order_by("-created_at", "-id")


def project_get(*, user, project_id: str) -> Project:
    """The user's project with its counts, or NotFound."""
    project = _with_counts(Project.objects.filter(pk=project_id, user=user)).first()
    if project is None:
        raise NotFound("Project not found", id=project_id[:64])
    return project
