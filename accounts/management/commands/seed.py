from django.core.management.base import BaseCommand

from accounts.models import Plan
from accounts.plans import plans_ensure
from accounts.services import demo_user_get
from pipelines.starters import starters_ensure
from studio.services.samples import samples_ensure
from tokens.services import account_for_user


class Command(BaseCommand):
    help = (
        "Create what a fresh installation needs: the plans, the demo account, the starter "
        "templates and the landing page's sample pictures. Idempotent."
    )

    def handle(self, *args, **options):
        plans_ensure()
        demo = demo_user_get()
        account = account_for_user(user=demo)
        plans = ", ".join(Plan.objects.values_list("code", flat=True))
        self.stdout.write(f"plans: {plans}")
        self.stdout.write(f"demo account: {demo.email} ({account.available} credits)")
        starters = starters_ensure()
        self.stdout.write(
            f"starter templates: {starters} added" if starters else "starter templates: all present"
        )
        made = samples_ensure()
        self.stdout.write(f"samples: {made} drawn" if made else "samples: all present")
