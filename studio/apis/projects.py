"""Project (board) endpoints: list, create, read, update, delete, duplicate."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.schema import errors
from core.serializers import iso
from organizations.workspace import WorkspaceFields, WorkspaceQuery, request_workspace
from studio.models import Project
from studio.selectors_assets import project_get, project_list
from studio.services.projects import (
    project_create,
    project_delete,
    project_duplicate,
    project_update,
)

NAME_MAX = 200
DESCRIPTION_MAX = 2000


class ProjectOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    assetCount = serializers.IntegerField()
    generationCount = serializers.IntegerField()
    createdAt = serializers.CharField()
    updatedAt = serializers.CharField()


class ProjectCountsOutput(serializers.Serializer):
    assets = serializers.IntegerField()
    generations = serializers.IntegerField()


class ProjectListOutput(serializers.Serializer):
    projects = ProjectOutput(many=True)
    pagination = PaginationSerializer()


def project_data(project: Project) -> dict:
    """A project as the API shows it; counts come from the selectors' annotations."""
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "assetCount": getattr(project, "asset_count", 0),
        "generationCount": getattr(project, "generation_count", 0),
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.updated_at),
    }


class ProjectListApi(APIView):
    class QuerySerializer(WorkspaceQuery, PageQuerySerializer):
        pass

    class InputSerializer(WorkspaceFields):
        name = serializers.CharField(min_length=1, max_length=NAME_MAX)
        description = serializers.CharField(
            max_length=DESCRIPTION_MAX, required=False, allow_blank=True, default=""
        )

    @extend_schema(
        operation_id="projects_list",
        tags=["projects"],
        parameters=[QuerySerializer],
        responses={200: ProjectListOutput, **errors(401, 404)},
        summary="The workspace's projects (your own, or an organization's), newest first, with "
        "how many assets and generations each holds.",
    )
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = dict(query.validated_data)
        workspace = request_workspace(request, values.pop("organization", None))
        page = paginate(project_list(user=request.user, workspace=workspace), **values)
        return Response(
            {
                "projects": [project_data(project) for project in page.items],
                "pagination": page.meta(),
            }
        )

    @extend_schema(
        operation_id="projects_create",
        tags=["projects"],
        request=InputSerializer,
        responses={201: ProjectOutput, **errors(401, 403, 404)},
        summary="Create a project in the workspace (an organization's: not for viewers).",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = request_workspace(request, values.pop("organization", None))
        project = project_create(user=request.user, workspace=workspace, **values)
        return Response(project_data(project), status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=1, max_length=NAME_MAX, required=False)
        description = serializers.CharField(
            max_length=DESCRIPTION_MAX, required=False, allow_blank=True
        )

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send at least one of: name, description.")
            return attrs

    class DeleteQuerySerializer(serializers.Serializer):
        delete_contents = serializers.BooleanField(
            default=False,
            help_text="true: delete the project's generations (running ones are cancelled and "
            "refunded) and uploaded assets too. false (default): move them out of the project.",
        )

    class DeleteOutputSerializer(serializers.Serializer):
        message = serializers.CharField()
        moved = ProjectCountsOutput(help_text="Moved out of the project.")
        deleted = ProjectCountsOutput(help_text="Deleted with the project.")

    @extend_schema(
        operation_id="project",
        tags=["projects"],
        responses={200: ProjectOutput, **errors(401, 404)},
        summary="One project, with how many assets and generations it holds.",
    )
    def get(self, request, project_id: str):
        return Response(project_data(project_get(user=request.user, project_id=project_id)))

    @extend_schema(
        operation_id="project_update",
        tags=["projects"],
        request=InputSerializer,
        responses={200: ProjectOutput, **errors(401, 403, 404)},
        summary="Change a project's name and/or description.",
    )
    def put(self, request, project_id: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project_update(user=request.user, project_id=project_id, **data.validated_data)
        return Response(project_data(project_get(user=request.user, project_id=project_id)))

    @extend_schema(
        operation_id="project_delete",
        tags=["projects"],
        parameters=[DeleteQuerySerializer],
        responses={200: DeleteOutputSerializer, **errors(401, 403, 404, 503)},
        summary="Delete a project. Its generations and assets move out of it, unless "
        "delete_contents=true deletes them.",
    )
    def delete(self, request, project_id: str):
        query = self.DeleteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = project_delete(
            user=request.user,
            project_id=project_id,
            delete_contents=query.validated_data["delete_contents"],
        )
        return Response(
            {
                "message": "Project deleted successfully",
                "moved": vars(result.moved),
                "deleted": vars(result.deleted),
            }
        )


class ProjectDuplicateApi(APIView):
    @extend_schema(
        operation_id="project_duplicate",
        tags=["projects"],
        request=None,
        responses={201: ProjectOutput, **errors(401, 403, 404, 409, 503)},
        summary='Copy a project as "<name> (copy)" with copies of its assets (not its '
        "generations).",
    )
    def post(self, request, project_id: str):
        copy = project_duplicate(user=request.user, project_id=project_id)
        body = project_data(project_get(user=request.user, project_id=copy.id))
        return Response(body, status=status.HTTP_201_CREATED)
