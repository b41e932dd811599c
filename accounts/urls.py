from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/demo", apis.DemoApi.as_view(), name="auth-demo"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/password", apis.PasswordApi.as_view(), name="auth-password"),
    path("users/profile", apis.ProfileApi.as_view(), name="users-profile"),
    path("users/export", apis.UserExportApi.as_view(), name="users-export"),
    path(
        "users/export/<str:export_id>",
        apis.UserExportDetailApi.as_view(),
        name="users-export-detail",
    ),
    path("users/exports", apis.UserExportListApi.as_view(), name="users-exports"),
]
