"""Forms for the staff credit actions in the admin (tokens.admin)."""

import uuid

from django import forms

# The same bounds as the staff endpoint PUT /api/v1/tokens.
MAX_CREDITS = 1_000_000


class CreditForm(forms.Form):
    """Amount and reason for a grant or an adjustment of the selected users' credits.

    `key` is made once when the form is first shown and travels with it: submitting the same
    form twice (a double click, the back button) replays the same ledger entries instead of
    moving credits again.
    """

    amount = forms.IntegerField()
    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Stored on each ledger entry; the user can see it in their history.",
    )
    key = forms.UUIDField(widget=forms.HiddenInput)

    @classmethod
    def fresh(cls) -> "CreditForm":
        return cls(initial={"key": uuid.uuid4()})


class GrantCreditsForm(CreditForm):
    amount = forms.IntegerField(
        min_value=1, max_value=MAX_CREDITS, help_text="Credits to add to each selected user."
    )


class AdjustCreditsForm(CreditForm):
    amount = forms.IntegerField(
        min_value=-MAX_CREDITS,
        max_value=MAX_CREDITS,
        help_text="Positive adds, negative deducts; never below what a user has on hold.",
    )

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment must not be zero.")
        return amount
