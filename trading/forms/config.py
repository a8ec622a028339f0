"""The config page's edit form: a node's strategy parameters and risk limits, built from the active
document and its schema (trading.backtest.config), one typed input per parameter.

Edited: the node-wide "risk" section and, per instrument, "config.strategy" (the parameters of
its strategy) and "config.risk". A parameter the document has is required (this form changes
values, it does not remove them: removing a limit raises it, do that in the admin); one it does
not have is optional, blank meaning "leave it out". Values arrive as text and are checked here
before the document is validated as a whole (trading.engine.config): decimals are plain decimal
strings (no sign, exponent, NaN or infinity), integers plain digits within the schema's bounds.
The form refuses any field it did not render (another node's instrument, a typo, an injected
name) and carries the version it was built from, so a stale form is refused, not applied.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import msgspec
import msgspec.inspect as schema
from django import forms

from trading.backtest.config import STRATEGY_PARAMS, RiskConfigIn
from trading.config_diff import instrument_labels
from trading.risk_limits import DEFAULTED_LIMITS, OPTIONAL_LIMITS
from trading.services.config_changes import MAX_COMMENT_CHARS

MAX_VALUE_CHARS = 40
MAX_VERSION = 2**63 - 1
DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,18})?$")  # ASCII: \d also matches other scripts
INT_RE = re.compile(r"^[0-9]{1,19}$")
COMMENT_REFUSED = re.compile(r"[<>\x00-\x1f\x7f]")
CONTROL_FIELDS = ("csrfmiddlewaretoken", "base_version", "comment")
LIMIT_FIELDS = frozenset((*OPTIONAL_LIMITS, *DEFAULTED_LIMITS))


def _checked_comment(comment: str) -> str:
    if COMMENT_REFUSED.search(comment):
        raise forms.ValidationError("the comment may not contain < > or control characters")
    return comment


@dataclass(frozen=True)
class ParamSpec:
    """One editable parameter of the document."""

    name: str  # the form field: "node.risk.max_daily_loss", "BTCUSDT.strategy.order_qty"
    scope: str  # "node" or the instrument's label (its symbol, or SYMBOL/market)
    section: str  # "risk" or "strategy"
    field: str
    kind: str  # "decimal", "int", "bool" or "choice"
    present: bool  # in the active document (then required)
    current: object  # the document's value (None when absent)
    default: str  # what leaving it out means, as shown
    path: tuple  # keys from the document root to the section holding the field
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    @property
    def is_limit(self) -> bool:
        return self.section == "risk" and self.field in LIMIT_FIELDS

    @property
    def current_text(self) -> str:
        if not self.present:
            return ""
        if isinstance(self.current, bool):
            return "true" if self.current else "false"
        if self.kind == "decimal":
            try:  # plain notation: a document's 1e-07 is shown (and sent back) as 0.0000001
                number = Decimal(str(self.current))
            except (InvalidOperation, ValueError):
                return str(self.current)
            if number.is_finite():
                return format(number, "f")
        return str(self.current)


def _kind(type_info) -> tuple[str, dict]:
    if isinstance(type_info, schema.UnionType):  # X | None: the X
        type_info = next(t for t in type_info.types if not isinstance(t, schema.NoneType))
    if isinstance(type_info, schema.DecimalType):
        return "decimal", {}
    if isinstance(type_info, schema.BoolType):
        return "bool", {}
    if isinstance(type_info, schema.LiteralType):
        return "choice", {"choices": tuple(str(v) for v in type_info.values)}
    if isinstance(type_info, schema.IntType):
        return "int", {"minimum": type_info.ge or 0, "maximum": min(type_info.le or MAX_VERSION, MAX_VERSION)}
    raise TypeError(f"no form input for {type_info!r}")  # a schema change this form must learn


def _default_text(field) -> str:
    if field.default is None or field.default is msgspec.NODEFAULT:
        return "not set"
    if isinstance(field.default, bool):
        return f"default {'true' if field.default else 'false'}"
    return f"default {field.default}"


def _section_specs(struct, section: dict, *, scope: str, name: str, path: tuple) -> list[ParamSpec]:
    specs = []
    for field in schema.type_info(struct).fields:
        kind, extra = _kind(field.type)
        present = field.name in section and section[field.name] is not None
        specs.append(
            ParamSpec(
                name=f"{scope}.{name}.{field.name}",
                scope=scope,
                section=name,
                field=field.name,
                kind=kind,
                present=present,
                current=section.get(field.name),
                default=_default_text(field),
                path=path,
                **extra,
            )
        )
    return specs


def param_specs(document: dict) -> list[ParamSpec]:
    """The editable parameters of a (valid, stored) node document: node-wide risk first, then per
    instrument its strategy parameters and its risk limits."""
    specs = _section_specs(
        RiskConfigIn, document.get("risk") or {}, scope="node", name="risk", path=("risk",)
    )
    labels = instrument_labels(document)
    market = (document.get("venue") or {}).get("market") or "spot"
    for index, item in enumerate(document.get("instruments") or []):
        label = labels[(str(item["symbol"]), str(item.get("market") or market))]
        config = item.get("config") or {}
        kind = "mm" if item.get("strategy", "mm") == "none" else item.get("strategy", "mm")
        strategy_path = ("instruments", index, "config", "strategy")
        specs += _section_specs(
            STRATEGY_PARAMS[kind],
            config.get("strategy") or {},
            scope=label,
            name="strategy",
            path=strategy_path,
        )
        risk_path = ("instruments", index, "config", "risk")
        specs += _section_specs(
            RiskConfigIn, config.get("risk") or {}, scope=label, name="risk", path=risk_path
        )
    return specs


# ---------------------------------------------------------------------------- typed inputs


class _TextInputField(forms.CharField):
    """Text checked by to_python: too long first (nothing else is looked at in 10 kB of input)."""

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "maxlength": str(MAX_VALUE_CHARS)}

    def text(self, value) -> str:
        text = super().to_python(value)
        if len(text) > MAX_VALUE_CHARS:
            raise forms.ValidationError(f"at most {MAX_VALUE_CHARS} characters (it has {len(text)})")
        return text


class DecimalTextField(_TextInputField):
    """A plain non-negative decimal string, kept as text (money and quantities stay exact)."""

    def to_python(self, value):
        text = self.text(value)
        if text in self.empty_values:
            return text
        if not DECIMAL_RE.fullmatch(text):
            raise forms.ValidationError("a plain decimal number such as 12.5 (no sign, exponent, NaN or inf)")
        return text


class PlainIntegerField(_TextInputField):
    """Digits only, within [minimum, maximum]; no sign, exponent, spaces inside or decimals."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs):
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def to_python(self, value):
        text = self.text(value)
        if text in self.empty_values:
            return None
        if not INT_RE.fullmatch(text):
            raise forms.ValidationError("a whole number written with digits only")
        number = int(text)
        if not self.minimum <= number <= self.maximum:
            raise forms.ValidationError(f"must be between {self.minimum} and {self.maximum}")
        return number


REQUIRED = {"required": "required: this form changes values, it does not remove them"}


def _form_field(spec: ParamSpec) -> forms.Field:
    placeholder = "" if spec.present else spec.default
    common = {"required": spec.present, "error_messages": REQUIRED}
    if spec.kind == "decimal":
        attrs = {"inputmode": "decimal", "pattern": DECIMAL_RE.pattern[1:-1], "placeholder": placeholder}
        return DecimalTextField(widget=forms.TextInput(attrs=attrs), **common)
    if spec.kind == "int":
        attrs = {"min": spec.minimum, "max": spec.maximum, "step": 1, "placeholder": placeholder}
        return PlainIntegerField(
            minimum=spec.minimum, maximum=spec.maximum, widget=forms.NumberInput(attrs=attrs), **common
        )
    values = ("true", "false") if spec.kind == "bool" else spec.choices
    choices = [(value, value) for value in values]
    if not spec.present:
        choices.insert(0, ("", spec.default))
    return forms.ChoiceField(choices=choices, **common)


def _value_of(spec: ParamSpec, cleaned):
    """The document value for a cleaned form value (None: leave the field out)."""
    if cleaned in (None, ""):
        return None
    if spec.kind == "bool":
        return cleaned == "true"
    return cleaned  # decimals stay text, integers are int, choices text


def _unchanged(spec: ParamSpec, value) -> bool:
    """Whether `value` is what the document already says ("100" and 100 are the same quantity:
    such a field keeps its written form, so the version only changes where a value did)."""
    if not spec.present:
        return value is None
    if value is None or isinstance(spec.current, bool) != (spec.kind == "bool"):
        return False
    if spec.kind == "bool":
        return spec.current is value
    if spec.kind == "choice":
        return str(spec.current) == value
    try:
        return Decimal(str(spec.current)) == Decimal(value)
    except (InvalidOperation, ValueError):
        return False


class ConfigEditForm(forms.Form):
    base_version = forms.IntegerField(min_value=0, max_value=MAX_VERSION, widget=forms.HiddenInput)
    comment = forms.CharField(
        required=False,
        max_length=MAX_COMMENT_CHARS,
        widget=forms.TextInput(attrs={"placeholder": "why (kept with the version and the audit trail)"}),
    )

    def __init__(self, data=None, *, document: dict, base_version: int, **kwargs):
        super().__init__(data, initial={"base_version": base_version}, **kwargs)
        self.document = document
        self.specs = param_specs(document)
        for spec in self.specs:
            field = _form_field(spec)
            field.label = spec.field
            field.initial = spec.current_text
            self.fields[spec.name] = field

    def clean_comment(self):
        return _checked_comment(self.cleaned_data.get("comment", ""))

    def clean(self):
        cleaned = super().clean()
        if self.data is None:
            return cleaned
        known = set(self.fields) | set(CONTROL_FIELDS)
        unknown = sorted(key for key in self.data if key not in known)
        if unknown:
            shown = ", ".join(repr(key[:60]) for key in unknown[:3])
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            raise forms.ValidationError(f"not parameters of this node's configuration: {shown}{more}")
        getlist = getattr(self.data, "getlist", lambda key: [self.data[key]])
        repeated = sorted(key for key in self.data if len(getlist(key)) > 1)
        if repeated:
            raise forms.ValidationError(f"each field once: {', '.join(repr(k[:60]) for k in repeated[:3])}")
        return cleaned

    def groups(self) -> list[dict]:
        """The inputs in document order, one group per section: {title, set: [(spec, bound
        field)] for the parameters the document has, unset: [...] for the ones it leaves out}."""
        groups: dict[tuple[str, str], dict] = {}
        for spec in self.specs:
            title = "node-wide risk" if spec.scope == "node" else f"{spec.scope} {spec.section}"
            group = groups.setdefault((spec.scope, spec.section), {"title": title, "set": [], "unset": []})
            bound = self[spec.name]
            group["set" if spec.present else "unset"].append((spec, bound))
            if not spec.present and self.is_bound and (bound.errors or bound.value()):
                group["open"] = True  # a value typed into a hidden input is shown, never lost
        return list(groups.values())

    def new_document(self) -> tuple[dict, list[str]]:
        """The active document with the form's values applied, and the names of the fields that
        changed (none: nothing to propose). Fields left as they were keep their written form."""
        document = copy.deepcopy(self.document)
        changed = []
        for spec in self.specs:
            value = _value_of(spec, self.cleaned_data.get(spec.name))
            if _unchanged(spec, value):
                continue
            section = document
            for key in spec.path:
                if isinstance(key, str):
                    section = section.setdefault(key, {})
                else:
                    section = section[key]
            if value is None:
                section.pop(spec.field, None)
            else:
                section[spec.field] = value
            changed.append(spec.name)
        return document, changed


class RollbackForm(forms.Form):
    version = forms.IntegerField(min_value=0, max_value=MAX_VERSION)
    base_version = forms.IntegerField(min_value=0, max_value=MAX_VERSION)
    comment = forms.CharField(required=False, max_length=MAX_COMMENT_CHARS)

    def clean_comment(self):
        return _checked_comment(self.cleaned_data.get("comment", ""))

    def clean(self):
        cleaned = super().clean()
        unknown = sorted(key for key in self.data if key not in (*CONTROL_FIELDS, "version"))
        if unknown:
            raise forms.ValidationError(f"unexpected fields: {', '.join(repr(k[:60]) for k in unknown[:3])}")
        return cleaned
