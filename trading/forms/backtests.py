"""The backtest list's filter form (GET parameters, each validated and bounded)."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from trading.models import BacktestRun

MAX_ID = 2**62


class BacktestFilterForm(forms.Form):
    strategy = forms.ChoiceField(
        required=False, choices=[("", "any strategy"), *BacktestRun.Strategy.choices]
    )
    symbol = forms.CharField(
        required=False,
        max_length=40,
        validators=[RegexValidator(r"^[A-Za-z0-9_.\-]*$", "letters, digits, _ . -")],
    )
    before = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
