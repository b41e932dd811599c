"""factory-boy factories. Users come with a subscription and a token account opened through
the ledger services, so every account a test makes passes the ledger audit."""

import factory
from django.conf import settings

from accounts.models import Plan, Subscription, User
from tokens.services import account_open


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-Horse-42")

    @classmethod
    def _create(cls, model_class, *args, plan_code="free", credits=None, **kwargs):
        """`plan_code` picks the plan; `credits` the opening balance (default: the plan's)."""
        user = super()._create(model_class, *args, **kwargs)
        plan = Plan.objects.get(code=plan_code)
        Subscription.objects.create(user=user, plan=plan)
        account_open(
            user=user, initial_credits=plan.credits_per_month if credits is None else credits
        )
        return user

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


def staff_user(**kwargs) -> User:
    return UserFactory(is_staff=True, is_superuser=True, **kwargs)


PASSWORD = "correct-Horse-42"
DEMO_EMAIL = settings.DEMO_EMAIL
