"""Template pages: the gallery, a template's run form, the builder and execution progress."""

from pipelines.views.builder import template_edit, template_new
from pipelines.views.pages import execution_detail, executions, template_detail, templates

__all__ = [
    "execution_detail",
    "executions",
    "template_detail",
    "template_edit",
    "template_new",
    "templates",
]
