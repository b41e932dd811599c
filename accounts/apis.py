"""Auth and profile endpoints (seed: /auth/*, /users/profile)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from accounts import services
from accounts.models import ExportStatus, User
from accounts.selectors import profile_get, user_summary
from accounts.selectors_export import export_body, export_list
from accounts.services_delete import account_delete
from accounts.services_export import export_get_for_user, export_request
from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.ratelimit import AuthIpThrottle
from core.schema import errors
from core.serializers import IsoDateTimeField, MessageSerializer


class UserOutput(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    credits = serializers.IntegerField(help_text="Credits available to spend now.")
    createdAt = IsoDateTimeField()
    isDemo = serializers.BooleanField()


class AuthOutput(serializers.Serializer):
    token = serializers.CharField(
        help_text="Access token: send as `Authorization: Bearer <token>`."
    )
    refresh = serializers.CharField(help_text="Refresh token for POST /auth/refresh.")
    user = UserOutput()


class PublicAuthView(APIView):
    """Endpoints used before one has a token: no authentication, limited per client IP."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthIpThrottle]


def _auth_response(user, status_code=status.HTTP_200_OK) -> Response:
    body = {**services.tokens_issue(user=user), "user": user_summary(user=user)}
    return Response(AuthOutput(body).data, status=status_code)


class RegisterApi(PublicAuthView):
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="auth_register",
        tags=["auth"],
        request=InputSerializer,
        responses={201: AuthOutput, **errors(400)},
        summary="Create an account on the free plan; returns tokens and the user.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return _auth_response(user, status.HTTP_201_CREATED)


class LoginApi(PublicAuthView):
    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        operation_id="auth_login",
        tags=["auth"],
        request=InputSerializer,
        responses={200: AuthOutput, **errors(400, 401)},
        summary="Sign in with email and password.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_login(**data.validated_data, request=request)
        return _auth_response(user)


class DemoApi(PublicAuthView):
    @extend_schema(
        operation_id="auth_demo",
        tags=["auth"],
        request=None,
        responses={200: AuthOutput, **errors()},
        summary="Tokens for the shared demo account (1000 credits, refilled when low).",
    )
    def post(self, request):
        return _auth_response(services.demo_user_get())


class _RefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        # simplejwt looks the user up without catching DoesNotExist (upstream issue #860): a
        # refresh token that outlived its user would be a 500 instead of a 401.
        try:
            return super().validate(attrs)
        except (User.DoesNotExist, DjangoValidationError, ValueError):
            # ValidationError / ValueError: a user_id claim that is not a UUID
            raise InvalidToken("Token is invalid or expired") from None


class RefreshApi(PublicAuthView):
    throttle_classes = []

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=4096)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        operation_id="auth_refresh",
        tags=["auth"],
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(401)},
        summary="Trade a refresh token for a new pair; the old refresh token stops working.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refreshed = _RefreshSerializer(data=data.validated_data)
        refreshed.is_valid(raise_exception=True)
        tokens = refreshed.validated_data
        return Response({"token": tokens["access"], "refresh": tokens["refresh"]})


class LogoutApi(PublicAuthView):
    throttle_classes = []

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=4096)

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        request=InputSerializer,
        responses={200: MessageSerializer, **errors(401)},
        summary="Revoke a refresh token.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.token_revoke(refresh=data.validated_data["refresh"])
        return Response({"message": "Logged out"})


class PasswordApi(APIView):
    class InputSerializer(serializers.Serializer):
        current_password = serializers.CharField(max_length=128, trim_whitespace=False)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        operation_id="auth_password",
        tags=["auth"],
        request=InputSerializer,
        responses={200: MessageSerializer, **errors(400, 401, 403)},
        summary="Change the password; every refresh token issued before is revoked.",
    )
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_change(user=request.user, **data.validated_data)
        return Response({"message": "Password changed"})


class SubscriptionOutput(serializers.Serializer):
    plan = serializers.CharField()
    credits_per_month = serializers.IntegerField()
    next_refill = IsoDateTimeField()


class ProfileOutput(UserOutput):
    totalGenerations = serializers.IntegerField()
    lastLogin = IsoDateTimeField(allow_null=True)
    updatedAt = IsoDateTimeField()
    subscription = SubscriptionOutput()


class ProfileApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150, required=False, allow_blank=True)
        email = serializers.EmailField(max_length=254, required=False)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send at least one of: name, email.")
            return attrs

    @extend_schema(
        operation_id="users_profile",
        tags=["users"],
        responses={200: ProfileOutput, **errors(401)},
        summary="The signed-in user's profile, credits and subscription.",
    )
    def get(self, request):
        return Response(ProfileOutput(profile_get(user=request.user)).data)

    @extend_schema(
        operation_id="users_profile_update",
        tags=["users"],
        request=InputSerializer,
        responses={200: ProfileOutput, **errors(400, 401, 403)},
        summary="Change name and/or email (the email must not belong to another account).",
    )
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.profile_update(user=request.user, **data.validated_data)
        return Response(ProfileOutput(profile_get(user=user)).data)

    class DeleteInput(serializers.Serializer):
        password = serializers.CharField(
            max_length=128, trim_whitespace=False, help_text="The account's current password."
        )

    class DeleteOutput(serializers.Serializer):
        message = serializers.CharField()
        cancelled = serializers.DictField(
            child=serializers.IntegerField(), help_text="Queued or running jobs stopped."
        )
        released = serializers.IntegerField(help_text="Credits their holds gave back.")
        deleted = serializers.DictField(
            child=serializers.IntegerField(), help_text="How many of each thing (and files)."
        )

    @extend_schema(
        operation_id="users_profile_delete",
        tags=["users"],
        request=DeleteInput,
        responses={200: DeleteOutput, **errors(401, 403, 503)},
        summary="Delete the account: running jobs are cancelled and refunded, then files and "
        "personal data go; the ledger is kept, anonymised. Needs the password.",
    )
    def delete(self, request):
        data = self.DeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        done = account_delete(user=request.user, password=data.validated_data["password"])
        body = {"message": "Account deleted", **vars(done)}
        return Response(self.DeleteOutput(body).data)


# --- Data exports -----------------------------------------------------------------------------


class ExportOutput(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=ExportStatus.choices)
    createdAt = IsoDateTimeField()
    startedAt = IsoDateTimeField(allow_null=True)
    completedAt = IsoDateTimeField(allow_null=True)
    expiresAt = IsoDateTimeField(
        allow_null=True, help_text="When the ZIP and its download URL stop existing."
    )
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the ZIP.")
    contents = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="How many files, generations, assets, projects, styles, templates, "
        "executions, ledgerEntries and webhooks it holds.",
    )
    url = serializers.CharField(
        allow_null=True, help_text="Signed download URL while the export is completed."
    )
    error = serializers.CharField(allow_null=True)


class ExportListOutput(serializers.Serializer):
    exports = ExportOutput(many=True)
    pagination = PaginationSerializer()


class UserExportApi(APIView):
    @extend_schema(
        operation_id="users_export",
        tags=["users"],
        request=None,
        responses={202: ExportOutput, **errors(401, 403, 409)},
        summary="Start an export of all your data (a ZIP of your files and a JSON of the rest); "
        "poll GET /users/export/<id>. 409 EXPORT_IN_PROGRESS while one is being prepared.",
    )
    def post(self, request):
        export = export_request(user=request.user)
        return Response(ExportOutput(export_body(export, request)).data, status=202)


class UserExportDetailApi(APIView):
    @extend_schema(
        operation_id="users_export_get",
        tags=["users"],
        responses={200: ExportOutput, **errors(401, 404)},
        summary="One of your exports: its status and, once completed, a signed download URL "
        "that works until it expires (a day after it was made).",
    )
    def get(self, request, export_id: str):
        export = export_get_for_user(user=request.user, export_id=export_id)
        return Response(ExportOutput(export_body(export, request)).data)


class UserExportListApi(APIView):
    @extend_schema(
        operation_id="users_exports",
        tags=["users"],
        parameters=[PageQuerySerializer],
        responses={200: ExportListOutput, **errors(401)},
        summary="Your data exports, newest first.",
    )
    def get(self, request):
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = paginate(export_list(user=request.user), **query.validated_data)
        body = {"exports": [export_body(e, request) for e in page.items], "pagination": page.meta()}
        return Response(ExportListOutput(body).data)
