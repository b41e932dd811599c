from django.db import migrations

from support.groups import GROUP, support_group_ensure


def create_group(apps, schema_editor):
    support_group_ensure(apps)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("support", "0001_initial"),
        ("accounts", "0004_subscription_pending_plan"),
        ("tokens", "0002_hold_subject"),
        ("studio", "0004_job_log"),
        ("pipelines", "0003_template_moderation"),
        # support_group_ensure reads today's PERMISSIONS, organizations' included.
        ("organizations", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
