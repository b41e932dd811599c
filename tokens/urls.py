from django.urls import path

from tokens import apis

urlpatterns = [
    path("tokens", apis.TokensApi.as_view(), name="tokens"),
    path("tokens/operations", apis.OperationsApi.as_view(), name="tokens-operations"),
    path("tokens/estimate", apis.EstimateApi.as_view(), name="tokens-estimate"),
]
