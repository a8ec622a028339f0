"""The audit trail's filter form (GET parameters: every one optional, every one validated)."""

from __future__ import annotations

from django import forms

from trading.selectors.audit import AuditFilter


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.RegexField(required=False, max_length=64, regex=r"^[a-z0-9_.]*$",
                              error_messages={"invalid": "letters, digits, '_' and '.' only"})  # fmt: skip
    target = forms.CharField(required=False, max_length=200, help_text="TYPE:ID or ID")
    request_id = forms.RegexField(required=False, max_length=64, regex=r"^[0-9A-Za-z._:-]*$")
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)
    before = forms.IntegerField(required=False, min_value=1, max_value=2**62, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise forms.ValidationError("'since' must be before 'until'")
        return data

    def audit_filter(self) -> AuditFilter:
        data = self.cleaned_data
        return AuditFilter(
            actor=data.get("actor") or "",
            action=data.get("action") or "",
            target=data.get("target") or "",
            request_id=data.get("request_id") or "",
            since=data.get("since"),
            until=data.get("until"),
        )
