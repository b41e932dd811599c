"""The "Support" staff group: look at everything a customer writes in about, act only through
the support actions (support.act), never edit a balance, a hold, a ledger entry or a status.
Made by a data migration (support 0002) and again after a test flush."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

GROUP = "Support"
# Only view permissions on the data, plus the one that runs the actions (which go through
# the services). No add/change/delete: those would be raw edits.
PERMISSIONS = {
    "accounts": ["view_plan", "view_user", "view_subscription", "view_dataexport"],
    "tokens": ["view_tokenaccount", "view_hold", "view_ledgerentry"],
    "studio": [
        "view_generation",
        "view_joblogentry",
        "view_asset",
        "view_project",
        "view_style",
        "view_webhook",
        "view_webhookdelivery",
        "view_webhookattempt",
    ],
    "pipelines": [
        "view_template",
        "view_globalinput",
        "view_pipeline",
        "view_step",
        "view_execution",
        "view_executionstep",
        "view_rating",
    ],
    "organizations": ["view_organization", "view_membership", "view_invitation"],
    "support": ["view_supportaction", "act"],
}


def support_group_ensure(apps=global_apps) -> None:
    """The group with exactly these permissions (made first where a new database lacks them:
    Django makes permissions after migrate)."""
    for label in PERMISSIONS:
        config = apps.get_app_config(label)
        models_module = getattr(config, "models_module", None)
        config.models_module = models_module or True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = []
    for label, codenames in PERMISSIONS.items():
        found = list(
            Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
        )
        missing = set(codenames) - {p.codename for p in found}
        if missing:
            raise RuntimeError(f"permissions not found for {label}: {sorted(missing)}")
        wanted += found
    group.permissions.set(wanted)
