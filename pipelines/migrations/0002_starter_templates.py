"""The starter templates (pipelines.starters), written with this migration's own models."""

from django.db import migrations


def add_starters(apps, schema_editor):
    from pipelines.starters import starters_ensure

    starters_ensure(
        {name: apps.get_model("pipelines", name) for name in ("Template", "GlobalInput", "Pipeline", "Step")}
    )


def remove_starters(apps, schema_editor):
    apps.get_model("pipelines", "Template").objects.exclude(starter="").delete()


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0001_initial")]

    operations = [migrations.RunPython(add_starters, remove_starters)]
