"""Pages of the studio app; each module one part of the site. Reads go through the same
selectors and presenters as the API; changes are made by the pages' scripts through the API."""

from studio.views.assets import asset_detail, assets, project_detail, projects
from studio.views.gallery import compare, gallery, gallery_detail
from studio.views.studio import studio

__all__ = [
    "asset_detail",
    "assets",
    "compare",
    "gallery",
    "gallery_detail",
    "project_detail",
    "projects",
    "studio",
]
