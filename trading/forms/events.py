"""The event-log browser's filter form (GET parameters, each validated and bounded)."""

from __future__ import annotations

import datetime as dt

from django import forms

from trading.models import Node, RecordKind
from trading.selectors.events import EventFilter

MAX_SEQ = 2**62


class EventFilterForm(forms.Form):
    node = forms.ModelChoiceField(queryset=Node.objects.all(), to_field_name="name", empty_label=None)
    kind = forms.TypedChoiceField(required=False, coerce=int, empty_value=None,
                                  choices=[("", "any kind")] + list(RecordKind.choices))  # fmt: skip
    seq_from = forms.IntegerField(required=False, min_value=1, max_value=MAX_SEQ)
    seq_to = forms.IntegerField(required=False, min_value=1, max_value=MAX_SEQ)
    since = forms.DateTimeField(required=False, help_text="UTC")
    until = forms.DateTimeField(required=False, help_text="UTC")
    order_id = forms.IntegerField(required=False, min_value=1, max_value=MAX_SEQ, label="client order id")
    before = forms.IntegerField(required=False, min_value=1, max_value=MAX_SEQ, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("seq_from") and data.get("seq_to") and data["seq_from"] > data["seq_to"]:
            raise forms.ValidationError("seq_from must not be above seq_to")
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise forms.ValidationError("'since' must be before 'until'")
        return data

    def event_filter(self) -> EventFilter:
        data = self.cleaned_data
        return EventFilter(
            node=data["node"],
            kind=data.get("kind"),
            seq_from=data.get("seq_from"),
            seq_to=data.get("seq_to"),
            since_ns=_ns(data.get("since")),
            until_ns=_ns(data.get("until")),
            order_id=data.get("order_id"),
        )


def _ns(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1_000
