"""The forms of the support actions in the admin: every one asks why."""

from django import forms

from accounts.models import Plan

REASON_HELP = "Kept in the staff record; on a refund, also the ledger entry's memo."


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.TextInput(attrs={"size": 60}), help_text=REASON_HELP
    )


class NoteForm(forms.Form):
    """For actions that touch no money and no one's work: the reason is optional."""

    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Optional; kept in the staff record.",
    )


class RefundForm(ReasonForm):
    amount = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Empty refunds everything the job charged; a number refunds that much.",
    )


class PlanForm(ReasonForm):
    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), empty_label=None)
    when = forms.ChoiceField(
        choices=[("now", "Now"), ("renewal", "At the next renewal")],
        initial="now",
        widget=forms.RadioSelect,
        help_text="Now: the new limits apply at once and the next renewal brings its credits.",
    )
