from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from trading.audit import Actor
from trading.backtest.config import ConfigError
from trading.models import (
    ApprovalRequest,
    AuditEntry,
    BacktestRun,
    Fill,
    Instrument,
    Node,
    NodeCommand,
    NodeConfigVersion,
    Order,
    RiskLimit,
    StrategyConfig,
    Venue,
)
from trading.services.config_changes import propose_node_config
from trading.services.instrument_registry import (
    SPEC_FIELDS,
    add_instrument,
    parse_node_document,
    set_venue_trading,
)
from trading.services.nodes import node_config_activate
from trading.services.operations import OperationDenied
from trading.services.risk_limit_rows import parse_limit_value, set_risk_limit
from trading.services.strategy_configs import (
    add_strategy_config,
    apply_strategy_config,
    validate_strategy_document,
)


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "trading_state", "active_config", "last_heartbeat", "created_at")
    search_fields = ("name",)
    # state and heartbeat are the node's own reports; the active version changes through a new
    # configuration version (validated), never by picking a row here
    readonly_fields = ("trading_state", "last_heartbeat", "last_status", "active_config")


class NodeConfigVersionForm(forms.ModelForm):
    """A new configuration document for a node, validated exactly as `runnode` validates it."""

    activate = forms.BooleanField(
        required=False, initial=True, help_text="make this the node's active configuration"
    )

    class Meta:
        model = NodeConfigVersion
        fields = ("node", "document", "comment")

    def clean(self):
        cleaned = super().clean()
        node, document = cleaned.get("node"), cleaned.get("document")
        if node is None or document is None:
            return cleaned
        if not isinstance(document, dict):
            raise forms.ValidationError({"document": "the document must be a JSON object"})
        try:
            config = parse_node_document(document)
        except ConfigError as exc:
            raise forms.ValidationError({"document": f"refused: {exc}"}) from exc
        if config.node != node.name:
            raise forms.ValidationError(
                {"document": f"the document is for node {config.node!r}, not {node.name!r}"}
            )
        return cleaned


@admin.register(NodeConfigVersion)
class NodeConfigVersionAdmin(admin.ModelAdmin):
    """Versions are the record of what each node ran: added (validated), never edited."""

    form = NodeConfigVersionForm
    list_display = ("node", "version", "comment", "created_at")
    list_filter = ("node",)

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Activation goes through the console's service: audited, the node told to reload, and a
        document that raises a risk limit becomes an approval request for a second user."""
        data = form.cleaned_data
        if data.get("activate"):
            try:
                proposal = propose_node_config(
                    Actor.from_request(request),
                    obj.node.name,
                    data["document"],
                    comment=data.get("comment", ""),
                )
            except OperationDenied as exc:
                raise PermissionDenied(exc.reason) from exc
            version = proposal.version
            if proposal.approval is not None:
                messages.warning(
                    request,
                    f"stored as version {version.version} but NOT active: it raises "
                    f"{', '.join(proposal.raised)}; approval request #{proposal.approval.pk} needs a second user",
                )
        else:
            _, version, _ = node_config_activate(
                node_name=obj.node.name,
                document=data["document"],
                comment=data.get("comment", ""),
                activate=False,
            )
        # the admin logs and redirects to the stored row (an identical document is the same row)
        obj.pk, obj.version, obj.document, obj.created_at = (
            version.pk,
            version.version,
            version.document,
            version.created_at,
        )


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    """Results are evidence: read-only in admin."""

    list_display = ("id", "created_at", "strategy", "symbol", "events", "realized_pnl", "state_hash")
    list_filter = ("strategy", "symbol", "status")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the node, the journal sink or the console's services: the admin
    shows them and never adds, edits or deletes one (for AuditEntry the database refuses too)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("seq", "at", "actor_username", "source_ip", "action", "target_type", "target_id")
    list_filter = ("action",)
    search_fields = ("actor_username", "target_id", "request_id")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "action", "target_id", "requested_by", "status", "decided_by", "expires_at")
    list_filter = ("status", "action")


@admin.register(NodeCommand)
class NodeCommandAdmin(ReadOnlyAdmin):
    list_display = ("issued_at", "node", "command", "issued_by_username", "status", "ack_seq")
    list_filter = ("status", "command")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [f.name for f in Order._meta.concrete_fields][:8]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = [f.name for f in Fill._meta.concrete_fields][:8]


def _report_proposal(request, proposal, *, unchanged: str) -> None:
    """What a configuration proposal made of an admin change, in the admin's messages."""
    if proposal.approval is not None:
        messages.warning(request, f"NOT applied: raising {', '.join(proposal.raised)} needs a second user; "
                                  f"approval request #{proposal.approval.pk} created")  # fmt: skip
    elif proposal.activated:
        messages.info(request, f"version {proposal.version.version} active; the node was told to reload")
    else:
        messages.info(request, unchanged)


class RiskLimitForm(forms.ModelForm):
    """One limit typed as text: blank = no limit (or the schema default), else a positive number."""

    new_value = forms.CharField(
        required=False, max_length=40, label="value", help_text="blank: no limit (or the schema default)"
    )
    reason = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = RiskLimit
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.value is not None and not self.instance.is_default:
            self.fields["new_value"].initial = f"{self.instance.value.normalize():f}"

    def clean_new_value(self):
        try:
            return parse_limit_value(self.instance.name, self.cleaned_data["new_value"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(RiskLimit)
class RiskLimitAdmin(admin.ModelAdmin):
    """The active configurations' limits. A change proposes a new configuration version through
    the console's service: lowering applies (node reloads), raising waits for a second user."""

    form = RiskLimitForm
    list_display = (
        "node",
        "scope_label",
        "strategy",
        "name",
        "value",
        "is_default",
        "units",
        "config_version",
    )
    list_filter = ("node", "name", "strategy")
    search_fields = ("node__name", "scope", "name")
    readonly_fields = ("node", "scope", "strategy", "name", "value", "is_default", "units", "config_version")
    fields = readonly_fields + ("new_value", "reason")

    def has_add_permission(self, request):
        return False  # every limit of the schema has a row; absent in the document = unlimited/default

    def has_delete_permission(self, request, obj=None):
        return False

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        if getattr(request, "_risk_limit_outcome", False) and level == messages.SUCCESS:
            return  # save_model said what really happened (applied, refused or sent for approval)
        super().message_user(request, message, level, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        request._risk_limit_outcome = True
        try:
            proposal = set_risk_limit(
                Actor.from_request(request), obj.node.name, obj.scope, obj.name, data["new_value"],
                comment=data.get("reason", ""),
            )  # fmt: skip
        except OperationDenied as exc:
            raise PermissionDenied(exc.reason) from exc
        except ConfigError as exc:
            messages.error(request, f"refused, nothing changed: {exc}")
            return
        _report_proposal(request, proposal, unchanged="no change: that is the active value")


class StrategyConfigForm(forms.ModelForm):
    class Meta:
        model = StrategyConfig
        fields = ("name", "strategy", "symbol", "market", "document", "comment")

    def clean(self):
        cleaned = super().clean()
        needed = ("strategy", "symbol", "market", "document")
        if all(cleaned.get(key) is not None for key in needed):
            try:
                validate_strategy_document(*(cleaned[key] for key in needed))
            except ConfigError as exc:
                raise forms.ValidationError({"document": f"refused: {exc}"}) from exc
        return cleaned


class ApplyStrategyConfigForm(forms.Form):
    node = forms.ModelChoiceField(queryset=Node.objects.exclude(active_config=None))
    reason = forms.CharField(required=False, max_length=200)


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    """Versions are immutable: adding one with an existing name stores its next version. A
    version is put on a node's instrument with "apply to a node" (the configuration service)."""

    form = StrategyConfigForm
    list_display = ("name", "version", "strategy", "symbol", "market", "created_by_username", "created_at")
    list_filter = ("strategy", "symbol")
    search_fields = ("name", "comment")
    readonly_fields = ("version", "created_by_username", "created_at", "apply_link")

    def get_fields(self, request, obj=None):
        base = ["name", "strategy", "symbol", "market", "document", "comment"]
        return base if obj is None else ["apply_link", *base, "version", "created_by_username", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("apply_link", "name", "strategy", "symbol", "market", "document", "comment", "version",
                "created_by_username", "created_at")  # fmt: skip

    @admin.display(description="apply")
    def apply_link(self, obj):
        from django.utils.html import format_html

        url = reverse("admin:trading_strategyconfig_apply", args=[obj.pk])
        return format_html('<a href="{}" id="apply-strategy-config">apply to a node</a>', url)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            row = add_strategy_config(
                Actor.from_request(request), name=data["name"], strategy=data["strategy"], symbol=data["symbol"],
                market=data["market"], document=data["document"], comment=data.get("comment", ""),
            )  # fmt: skip
        except OperationDenied as exc:
            raise PermissionDenied(exc.reason) from exc
        obj.pk, obj.version, obj.created_at = row.pk, row.version, row.created_at

    def get_urls(self):
        view = self.admin_site.admin_view(self.apply_view)
        return [path("<int:pk>/apply/", view, name="trading_strategyconfig_apply"), *super().get_urls()]

    def apply_view(self, request, pk: int):
        config = get_object_or_404(StrategyConfig, pk=pk)
        if not request.user.has_perm("trading.add_nodeconfigversion"):
            raise PermissionDenied("missing permission trading.add_nodeconfigversion")
        form = ApplyStrategyConfigForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                proposal = apply_strategy_config(
                    Actor.from_request(request), form.cleaned_data["node"].name, config.pk,
                    comment=form.cleaned_data["reason"],
                )  # fmt: skip
            except OperationDenied as exc:
                raise PermissionDenied(exc.reason) from exc
            except (ConfigError, LookupError) as exc:
                messages.error(request, f"refused, nothing changed: {exc}")
            else:
                _report_proposal(
                    request, proposal, unchanged="no change: the node already runs this configuration"
                )
                return redirect(reverse("admin:trading_strategyconfig_change", args=[config.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Apply {config} to a node", "form": form,
                   "config": config, "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/trading/strategyconfig/apply.html", context)


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    """Closing a venue to trading refuses every new node configuration that trades on it."""

    list_display = ("name", "trading_enabled", "description", "created_at")
    fields = ("name", "description", "trading_enabled")

    def get_readonly_fields(self, request, obj=None):
        return ("name",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        if not change:
            super().save_model(request, obj, form, change)
            from trading.audit import record_audit

            record_audit(
                actor, "venue.add", "venue", obj.name, after={"trading_enabled": obj.trading_enabled}
            )
            return
        if "description" in form.changed_data:
            type(obj).objects.filter(pk=obj.pk).update(description=obj.description)
        if "trading_enabled" in form.changed_data:
            try:
                set_venue_trading(actor, obj.name, obj.trading_enabled)
            except OperationDenied as exc:
                raise PermissionDenied(exc.reason) from exc


class InstrumentForm(forms.ModelForm):
    """A new instrument, validated exactly as instrument files are (exact decimal conversion)."""

    class Meta:
        model = Instrument
        fields = ("venue", *SPEC_FIELDS)

    def clean_symbol(self):
        return self.cleaned_data["symbol"].upper()  # the registry's key is the upper-case symbol

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        from trading.instruments import InstrumentError, InstrumentSpec

        data = {field: cleaned.get(field) for field in SPEC_FIELDS}
        for field in ("tick_size", "lot_size", "multiplier"):
            data[field] = format(data[field].normalize(), "f")
        try:
            InstrumentSpec.from_json({**data, "venue": cleaned["venue"].name})
        except InstrumentError as exc:
            raise forms.ValidationError(f"refused: {exc}") from exc
        return cleaned


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    """Instruments are added, never edited: a journal replays only with the spec it was
    recorded with (a different tick or lot size is a new instrument)."""

    form = InstrumentForm
    list_display = ("symbol", "market", "venue", "tick_size", "lot_size", "contract_type", "maker_fee_ppm",
                    "taker_fee_ppm", "source")  # fmt: skip
    list_filter = ("venue", "market", "contract_type", "source")
    search_fields = ("symbol",)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in SPEC_FIELDS}
        for field in ("tick_size", "lot_size", "multiplier"):
            data[field] = format(data[field].normalize(), "f")
        data["venue"] = form.cleaned_data["venue"].name
        try:
            row = add_instrument(Actor.from_request(request), data)
        except OperationDenied as exc:
            raise PermissionDenied(exc.reason) from exc
        obj.pk, obj.created_at = row.pk, row.created_at
