"""Sample pictures for the landing page, made by the local provider when the site is seeded."""

from django.db import models


class Sample(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    prompt = models.CharField(max_length=500)
    category = models.CharField(max_length=32, blank=True)
    seed = models.BigIntegerField()
    key = models.CharField(max_length=300)
    thumbnail_key = models.CharField(max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sort_order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sort_order", "slug"]

    def __str__(self) -> str:
        return self.slug
