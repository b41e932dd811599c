"""The Support group also sees organizations, their members and invitations (view only)."""

from django.db import migrations

from support.groups import support_group_ensure


def update_group(apps, schema_editor):
    support_group_ensure(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0002_support_group"),
        ("organizations", "0002_organization_closed_at"),
    ]

    operations = [migrations.RunPython(update_group, migrations.RunPython.noop)]
