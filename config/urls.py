from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_pages
from core.apis import HealthApi
from core.metrics import metrics_view
from organizations import views as organization_pages
from pipelines import views as pipeline_pages
from studio import views as studio_pages
from studio.media_views import serve_media
from tokens import views as token_pages

api_v1 = [
    path("health", HealthApi.as_view(), name="health"),
    path("", include("accounts.urls")),
    path("", include("tokens.urls")),
    path("", include("studio.urls")),
    path("", include("pipelines.urls")),
    path("", include("organizations.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

pages = [
    path("", account_pages.home, name="home"),
    path("register/", account_pages.register, name="register"),
    path("login/", account_pages.login, name="login"),
    path("login/demo/", account_pages.demo, name="demo-login"),
    path("logout/", account_pages.logout, name="logout"),
    path("account/", account_pages.account, name="account"),
    path("studio/", studio_pages.studio, name="studio"),
    path("gallery/", studio_pages.gallery, name="gallery"),
    path("gallery/compare/", studio_pages.compare, name="compare"),
    path("gallery/<str:generation_id>/", studio_pages.gallery_detail, name="gallery-detail"),
    path("assets/", studio_pages.assets, name="assets-page"),
    path("assets/<str:asset_id>/", studio_pages.asset_detail, name="asset-page"),
    path("projects/", studio_pages.projects, name="projects-page"),
    path("projects/<str:project_id>/", studio_pages.project_detail, name="project-page"),
    path("dashboard/", token_pages.dashboard, name="dashboard"),
    path("templates/", pipeline_pages.templates, name="templates-page"),
    path("templates/new/", pipeline_pages.template_new, name="template-new"),
    path("templates/<str:template_id>/", pipeline_pages.template_detail, name="template-page"),
    path("templates/<str:template_id>/edit/", pipeline_pages.template_edit, name="template-edit"),
    path("executions/", pipeline_pages.executions, name="executions-page"),
    path("executions/<str:execution_id>/", pipeline_pages.execution_detail, name="execution-page"),
    path("workspace/", organization_pages.workspace_switch, name="workspace-switch"),
    path("organizations/new/", organization_pages.organization_new, name="organization-new"),
    path(
        "organizations/<str:slug>/", organization_pages.organization_page, name="organization-page"
    ),
    path("invitations/<str:token>/", organization_pages.invitation_page, name="invitation-page"),
]

urlpatterns = [
    *pages,
    path("api/v1/", include(api_v1)),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("media/<path:key>", serve_media, name="media"),
    # Outside /api/v1: for Prometheus, not API clients (not in the OpenAPI schema).
    path("metrics", metrics_view, name="metrics"),
]

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
