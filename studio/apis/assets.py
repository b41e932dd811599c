"""Asset endpoints: upload a source image, list, read, rename or file, delete, download, move."""

import re
from pathlib import PurePosixPath

from django.conf import settings
from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.schema import errors
from core.serializers import MessageSerializer, iso
from organizations.workspace import WorkspaceFields, WorkspaceQuery, request_workspace
from studio import storage
from studio.models import Asset, AssetKind
from studio.presenters import media_url
from studio.selectors_assets import asset_get, asset_list
from studio.services.assets import (
    UNSET,
    asset_delete,
    asset_update,
    asset_upload,
    assets_move,
)
from studio.uploads import UploadTooLarge, check_size, human_size

UNFILED = "none"
MOVE_MAX = 100
# Room for the multipart boundaries, part headers and the small fields next to the file.
MULTIPART_OVERHEAD = 64 * 1024
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f/\\"]')
_EXTENSIONS = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/webp": (".webp",),
    "image/svg+xml": (".svg",),
    "video/mp4": (".mp4",),
}


class AssetOutput(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=AssetKind.choices, help_text="upload, or generated (a generation's result)."
    )
    name = serializers.CharField()
    url = serializers.URLField(help_text="Signed and expiring.")
    thumbnail_url = serializers.URLField(allow_null=True, help_text="WebP, at most 512 px.")
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    size = serializers.IntegerField(help_text="Bytes.")
    project = serializers.CharField(allow_null=True)
    generation = serializers.CharField(allow_null=True, help_text="The job that made it.")
    createdAt = serializers.CharField()
    updatedAt = serializers.CharField()


class AssetListOutput(serializers.Serializer):
    assets = AssetOutput(many=True)
    pagination = PaginationSerializer()


def asset_data(asset: Asset, request) -> dict:
    """An asset as the API shows it, with signed absolute URLs."""
    return {
        "id": asset.id,
        "kind": asset.kind,
        "name": asset.name,
        "url": media_url(asset.key, request),
        "thumbnail_url": media_url(asset.thumbnail_key, request) if asset.thumbnail_key else None,
        "content_type": asset.content_type,
        "width": asset.width,
        "height": asset.height,
        "size": asset.size,
        "project": asset.project_id,
        "generation": asset.generation_id,
        "createdAt": iso(asset.created_at),
        "updatedAt": iso(asset.updated_at),
    }


def _download_url(asset: Asset, request) -> str:
    """A signed URL serving the file as an attachment; absolute, like media_url's."""
    url = storage.url_for(asset.key, filename=download_name(asset))
    return url if url.startswith(("http://", "https://")) else request.build_absolute_uri(url)


def download_name(asset: Asset) -> str:
    """The asset's name, safe as a file name and ending in its type's extension."""
    name = _UNSAFE_IN_NAME.sub("_", asset.name).strip() or asset.id
    suffix = PurePosixPath(asset.key).suffix
    extensions = _EXTENSIONS.get(asset.content_type, (suffix,))
    return name if name.lower().endswith(extensions) else name + suffix


class AssetUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(WorkspaceFields):
        file = serializers.FileField(
            allow_empty_file=True,  # refused by studio.uploads, in the same words as the rest
            help_text="PNG, JPEG or WebP, recognised by its content; at most UPLOAD_MAX_BYTES "
            "(20 MB) and UPLOAD_MAX_PIXELS (40 million pixels).",
        )
        project = serializers.CharField(
            max_length=64,
            required=False,
            allow_blank=True,
            default="",
            help_text="File it into this project.",
        )
        name = serializers.CharField(
            max_length=255,
            required=False,
            allow_blank=True,
            default="",
            help_text="Default: the file's name.",
        )

    def initial(self, request, *args, **kwargs):
        # Before authentication and parsing read anything: a body over the limit is refused
        # unread (the server reads no more than Content-Length, so this bounds it).
        limit = settings.UPLOAD_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + MULTIPART_OVERHEAD:
            raise UploadTooLarge(
                f"The request is larger than the {human_size(limit)} limit", limit=limit
            )
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="assets_upload",
        tags=["assets"],
        request={"multipart/form-data": InputSerializer},
        responses={201: AssetOutput, **errors(401, 403, 404, 503)},
        summary="Upload a source image (multipart field `file`); metadata is stripped, EXIF "
        "orientation applied.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values["file"]
        check_size(upload.size, max_bytes=settings.UPLOAD_MAX_BYTES)  # before reading it
        asset = asset_upload(
            user=request.user,
            workspace=request_workspace(request, values.get("organization")),
            data=upload.read(),
            filename=upload.name or "",
            name=values["name"],
            project_id=values["project"] or None,
        )
        return Response(asset_data(asset, request), status=status.HTTP_201_CREATED)


class AssetListApi(APIView):
    class FilterSerializer(WorkspaceQuery, PageQuerySerializer):
        project = serializers.CharField(
            max_length=64,
            required=False,
            help_text=f'A project id, or "{UNFILED}" for assets in no project.',
        )
        kind = serializers.ChoiceField(choices=AssetKind.choices, required=False)

    @extend_schema(
        operation_id="assets_list",
        tags=["assets"],
        parameters=[FilterSerializer],
        responses={200: AssetListOutput, **errors(401, 404)},
        summary="The workspace's assets (your own, or an organization's), newest first, "
        "optionally of one project and kind (a project of another workspace is 404).",
    )
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        project = values.get("project")
        assets = asset_list(
            user=request.user,
            workspace=request_workspace(request, values.get("organization")),
            project_id=None if project == UNFILED else project,
            unfiled=project == UNFILED,
            kind=values.get("kind"),
        )
        page = paginate(assets, page=values["page"], limit=values["limit"])
        return Response(
            {
                "assets": [asset_data(asset, request) for asset in page.items],
                "pagination": page.meta(),
            }
        )


class AssetDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=1, max_length=255, required=False)
        project = serializers.CharField(
            max_length=64,
            required=False,
            allow_null=True,
            help_text="A project id to file it into, or null for none.",
        )

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send at least one of: name, project.")
            return attrs

    @extend_schema(
        operation_id="asset",
        tags=["assets"],
        responses={200: AssetOutput, **errors(401, 404)},
        summary="One asset, with signed URLs.",
    )
    def get(self, request, asset_id: str):
        asset = asset_get(user=request.user, asset_id=asset_id)
        return Response(asset_data(asset, request))

    @extend_schema(
        operation_id="asset_update",
        tags=["assets"],
        request=InputSerializer,
        responses={200: AssetOutput, **errors(401, 403, 404)},
        summary="Rename an asset and/or file it into a project of its workspace (null: into none).",
    )
    def patch(self, request, asset_id: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        asset = asset_update(
            user=request.user,
            asset_id=asset_id,
            name=values.get("name"),
            project_id=values.get("project", UNSET),
        )
        return Response(asset_data(asset, request))

    @extend_schema(
        operation_id="asset_delete",
        tags=["assets"],
        responses={200: MessageSerializer, **errors(401, 403, 404, 409, 503)},
        summary="Delete an uploaded asset and its files. A generation's result is 409 "
        "ASSET_BELONGS_TO_GENERATION: delete the generation instead.",
    )
    def delete(self, request, asset_id: str):
        asset_delete(user=request.user, asset_id=asset_id)
        return Response({"message": "Asset deleted successfully"})


class AssetDownloadApi(APIView):
    @extend_schema(
        operation_id="asset_download",
        tags=["assets"],
        responses={
            302: OpenApiResponse(
                description="Redirect (`Location`) to a signed, expiring URL that serves the "
                "file as an attachment named after the asset."
            ),
            **errors(401, 404),
        },
        summary="Download the asset's file: a redirect to a signed URL.",
    )
    def get(self, request, asset_id: str):
        asset = asset_get(user=request.user, asset_id=asset_id)
        response = HttpResponseRedirect(_download_url(asset, request))
        response["Cache-Control"] = "private, no-store"  # the signed URL is a capability
        return response


class AssetMoveApi(APIView):
    class InputSerializer(WorkspaceFields):
        ids = serializers.ListField(
            child=serializers.CharField(max_length=64),
            min_length=1,
            max_length=MOVE_MAX,
            help_text="Asset ids (ast_…) and generation ids (img_…, vid_…, op_…); a generation "
            "takes its assets along.",
        )
        project = serializers.CharField(
            max_length=64, allow_null=True, help_text="The project, or null for none."
        )

    class OutputSerializer(serializers.Serializer):
        moved = serializers.IntegerField(help_text="How many of the ids were moved.")

    @extend_schema(
        operation_id="assets_move",
        tags=["assets"],
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(401, 403, 404)},
        summary="File assets and generations of the workspace into one of its projects, or out "
        "of any; all or nothing.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        moved = assets_move(
            user=request.user,
            workspace=request_workspace(request, data.validated_data.get("organization")),
            ids=data.validated_data["ids"],
            project_id=data.validated_data["project"],
        )
        return Response({"moved": moved})
