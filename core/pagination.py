"""Page/limit pagination in the seed's shape: `{"<plural>": [...], "pagination": {...}}`."""

import math
from dataclasses import dataclass

from django.db.models import QuerySet
from rest_framework import serializers

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()
    pages = serializers.IntegerField()
    hasNext = serializers.BooleanField()
    hasPrev = serializers.BooleanField()


@dataclass(frozen=True)
class Page:
    items: list
    page: int
    limit: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0

    def meta(self) -> dict:
        return {
            "page": self.page,
            "limit": self.limit,
            "total": self.total,
            "pages": self.pages,
            "hasNext": self.page < self.pages,
            "hasPrev": self.page > 1,
        }


def paginate(queryset: QuerySet, *, page: int, limit: int) -> Page:
    """One page of an ordered queryset; a page past the end is empty, not an error."""
    total = queryset.count()
    offset = (page - 1) * limit
    items = list(queryset[offset : offset + limit]) if offset < total else []
    return Page(items=items, page=page, limit=limit, total=total)


def page_params(request) -> dict:
    """Validated `page` and `limit` from the query string (400 INVALID_REQUEST if bad)."""
    serializer = PageQuerySerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
