"""Forms of the marketer's admin pages: the Audience Sync step editor and Actalike audiences."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from audiences.models import Step
from audiences.services import ACTALIKE_COUNTRIES, AUDIENCE_NAME_MAX_LENGTH
from integrations.models import AdAccount
from integrations.pinterest.ids import ID_MAX_LENGTH

# A Pinterest audience id is a digit string (openapi-v5.json, path_audience_id:
# `pattern: ^\d+$`, `maxLength: 18`); the search fills the hidden field with one.
PINTEREST_ID = RegexValidator(
    r"\A[0-9]{1,18}\Z", "This is not a Pinterest audience id: pick the audience from the search results again."
)


class AudienceSyncStepForm(forms.Form):
    """Everything an Audience Sync step needs; the audience is one "new or existing" field.

    `audience_name` is a new audience's name, or the name of the existing
    Pinterest audience picked from the search (whose id is then in
    `pinterest_audience_id`).
    """

    name = forms.CharField(max_length=200, required=False, label="Step name")
    ad_account = forms.ModelChoiceField(queryset=AdAccount.objects.none(), required=False, empty_label="Choose an ad account")
    audience_name = forms.CharField(
        max_length=AUDIENCE_NAME_MAX_LENGTH,
        required=False,
        label="Audience",
        help_text="Type to search this ad account's Pinterest audiences, or type a new name and click Create audience.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Search or name a new audience", "size": 50,
                                   "aria-describedby": "audience-help"}),
    )
    pinterest_audience_id = forms.CharField(
        required=False, max_length=ID_MAX_LENGTH, strip=False, validators=[PINTEREST_ID], widget=forms.HiddenInput,
        error_messages={"max_length": PINTEREST_ID.message},
    )
    # An audience this workspace already has in the ad account (a draft another step created, or one in use),
    # picked from the same search: its row id.
    audience_id = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=Step.Action.choices, widget=forms.RadioSelect)
    match_email = forms.BooleanField(required=False, label="Email")
    match_idfa = forms.BooleanField(required=False, label="iOS IDFA")
    match_android_aid = forms.BooleanField(required=False, label="Android advertising id")

    # Fields that may change while the canvas is active (services.step_update says why the others may not).
    SAFE_FIELDS = ("name", "match_email", "match_idfa", "match_android_aid")

    def __init__(self, *args, ad_accounts, locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ad_account"].queryset = ad_accounts
        self.locked = locked
        if locked:
            for name, field in self.fields.items():
                if name not in self.SAFE_FIELDS:
                    field.disabled = True

    @classmethod
    def initial_for(cls, step: Step) -> dict:
        return {
            "name": step.name,
            "ad_account": step.ad_account_id,
            "audience_name": step.audience.name if step.audience else "",
            "action": step.action,
            "match_email": step.match_email,
            "match_idfa": step.match_idfa,
            "match_android_aid": step.match_android_aid,
        }

    def clean(self):
        data = super().clean()
        # A hidden field's error would be shown nowhere: show it above the form.
        for field in ("pinterest_audience_id", "audience_id"):
            for message in self._errors.pop(field, []):
                self.add_error(None, message)
        return data

    def match_fields(self) -> list[str]:
        pairs = (("email", "match_email"), ("ios_idfa", "match_idfa"), ("android_aid", "match_android_aid"))
        return [api_name for api_name, field in pairs if self.cleaned_data.get(field)]


class ActalikeForm(forms.Form):
    country = forms.ChoiceField(choices=[(c, c) for c in ACTALIKE_COUNTRIES])
    percentage = forms.IntegerField(
        min_value=1, max_value=10, initial=5,
        help_text="1 finds the people most like your audience; 10 reaches the most people.",
    )
    name = forms.CharField(max_length=AUDIENCE_NAME_MAX_LENGTH, required=False, help_text="Optional; a name is made up for you.")
