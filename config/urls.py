from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.apis import HealthApi
from studio.media_views import serve_media

api_v1 = [
    path("health", HealthApi.as_view(), name="health"),
    path("", include("accounts.urls")),
    path("", include("tokens.urls")),
    path("", include("studio.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("media/<path:key>", serve_media, name="media"),
]

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
