"""Console pages: overview of nodes and backtests, backtest detail. Every page needs a signed-in
user holding the page's view permission (a role: trading.roles)."""

import csv
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponseBadRequest, HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from trading.audit import Actor, record_audit
from trading.backtest.report import REPORT_KEYS
from trading.forms.audit import AuditFilterForm
from trading.forms.backtests import BacktestFilterForm
from trading.forms.events import EventFilterForm
from trading.models import ApprovalRequest, AuditEntry, BacktestRun, Event, Node
from trading.selectors.audit import AuditFilter, audit_entries, audit_page
from trading.selectors.backtests import (
    backtest_run_get,
    backtest_run_list,
    backtest_run_page,
    equity_polyline,
    node_list,
)
from trading.selectors.console import (
    approvals_for,
    equity_curve,
    fill_rows,
    node_commands,
    node_get,
    node_instruments,
    node_overview,
    order_rows,
    state_hashes,
)
from trading.selectors.events import event_get, event_page
from trading.selectors.state_at import StateAtError, parse_seq, state_at
from trading.services.operations import OperationDenied, decide_approval, request_approval, resume_action


def _display(value):
    """Readable metric values: floats to 6 significant digits, None as n/a, the rest as is."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value


@require_GET
@login_required
@permission_required("trading.view_node", raise_exception=True)
def overview(request):
    nodes = [node_overview(node) for node in node_list().select_related("active_config")]
    return render(request, "trading/overview.html", {"nodes": nodes, "runs": backtest_run_list()})


@require_GET
@login_required
@permission_required("trading.view_backtestrun", raise_exception=True)
def backtest_list(request):
    form = BacktestFilterForm(request.GET or None)
    runs, next_before = [], None
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        runs, next_before = backtest_run_page(
            strategy=data.get("strategy") or "", symbol=data.get("symbol") or "", before=data.get("before")
        )
    query = request.GET.copy()
    query.pop("before", None)
    return render(request, "trading/backtest_list.html",
                  {"form": form, "runs": runs, "next_before": next_before, "query": query.urlencode()},
                  status=200 if not form.errors else 400)  # fmt: skip


@require_GET
@login_required
@permission_required("trading.view_backtestrun", raise_exception=True)
def backtest_detail(request, pk: int):
    try:
        run = backtest_run_get(pk)
    except BacktestRun.DoesNotExist as exc:
        raise Http404("no such backtest run") from exc
    metrics = run.metrics or {}
    rows = [(key, _display(metrics.get(key))) for key in REPORT_KEYS]
    extra = [(key, _display(value)) for key, value in sorted(metrics.items()) if key not in REPORT_KEYS]
    return render(
        request,
        "trading/backtest_detail.html",
        {"run": run, "rows": rows, "extra": extra, "equity": equity_polyline(run.equity_curve)},
    )


# ---------------------------------------------------------------------------- node console


def _node_or_404(name: str) -> Node:
    try:
        return node_get(name)
    except Node.DoesNotExist as exc:
        raise Http404("no such node") from exc


@require_GET
@login_required
@permission_required("trading.view_node", raise_exception=True)
def node_live(request, name: str):
    node = _node_or_404(name)
    user = request.user
    return render(
        request,
        "trading/node_live.html",
        {
            "node": node,
            "instruments": node_instruments(node),
            "commands": node_commands(node),
            "approvals": approvals_for(node),
            "hashes": state_hashes(node),
            "equity": equity_polyline(equity_curve(node)),
            # a viewer gets no buttons at all (the socket and the services refuse them anyway)
            "can": _operator_powers(user),
        },
    )


@require_POST
@login_required
def resume_request(request, name: str):
    reason = request.POST.get("reason", "")
    try:
        action = resume_action(name)
        approval = request_approval(Actor.from_request(request), action, name, reason=reason)
    except OperationDenied as exc:
        return HttpResponseForbidden(exc.reason)
    except LookupError as exc:
        raise Http404(str(exc)) from exc
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        what = "re-enabling the strategy" if action == ApprovalRequest.Action.REENABLE_STRATEGY else "resume"
        messages.success(request, f"{what} requested (#{approval.pk}): a second user must approve it")
    # back to the page the form was on (the node's live or risk page), never anywhere else
    if request.POST.get("from") == "risk":
        return redirect("node-risk", name=name)
    return redirect("node-live", name=name)


@require_POST
@login_required
def approval_decide(request, pk: int):
    approve = request.POST.get("decision") == "approve"
    if request.POST.get("decision") not in ("approve", "reject"):
        return HttpResponseBadRequest("decision must be approve or reject")
    try:
        approval = decide_approval(
            Actor.from_request(request), pk, approve=approve, note=request.POST.get("note", "")
        )
    except OperationDenied as exc:
        messages.error(request, f"refused: {exc.reason}")
        approval = ApprovalRequest.objects.filter(pk=pk).first()
    except LookupError as exc:
        raise Http404(str(exc)) from exc
    except ValueError as exc:
        messages.error(request, str(exc))
        approval = ApprovalRequest.objects.filter(pk=pk).first()
    else:
        messages.success(request, f"request #{approval.pk} {approval.status.lower()}")
    if approval is not None and approval.target_type == "node":
        return redirect("node-live", name=approval.target_id)
    return redirect("overview")


# ---------------------------------------------------------------------------- audit trail

CSV_FIELDS = ("seq", "at", "actor_username", "source_ip", "action", "target_type", "target_id",
              "before", "after", "request_id", "prev_hash", "entry_hash")  # fmt: skip


@require_GET
@login_required
@permission_required("trading.view_auditentry", raise_exception=True)
def audit_list(request):
    form = AuditFilterForm(request.GET or None)
    entries, next_before = [], None
    if not request.GET or form.is_valid():
        flt = form.audit_filter() if request.GET else AuditFilter()
        before = form.cleaned_data.get("before") if request.GET else None
        entries, next_before = audit_page(flt, before)
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "trading/audit_list.html",
        {
            "form": form,
            "entries": entries,
            "next_before": next_before,
            "query": query.urlencode(),
            "can_export": request.user.has_perm("trading.export_auditentry"),
        },
    )


@require_GET
@login_required
@permission_required("trading.view_auditentry", raise_exception=True)
def audit_detail(request, seq: int):
    entry = AuditEntry.objects.filter(seq=seq).first()
    if entry is None:
        raise Http404("no such audit entry")
    pretty = {
        name: json.dumps(getattr(entry, name), indent=2, sort_keys=True) for name in ("before", "after")
    }
    return render(request, "trading/audit_detail.html", {"entry": entry, "pretty": pretty})


class _Echo:
    def write(self, value):
        return value


@require_GET
@login_required
@permission_required("trading.export_auditentry", raise_exception=True)
def audit_export(request):
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponseBadRequest("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    flt = form.audit_filter() if request.GET else AuditFilter()
    record_audit(
        Actor.from_request(request),
        "audit.export",
        "audit",
        "trail",
        after={"filter": {k: str(v) for k, v in form.cleaned_data.items() if v}}
        if request.GET
        else {"filter": {}},
    )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_FIELDS)
        for entry in audit_entries(flt).iterator(chunk_size=2000):
            values = []
            for name in CSV_FIELDS:
                value = getattr(entry, name)
                if name in ("before", "after"):
                    value = json.dumps(value, sort_keys=True)
                elif name == "at":
                    value = value.isoformat()
                values.append(_csv_safe(value))
            yield writer.writerow(values)

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    return response


def _csv_safe(value) -> str:
    """Text a spreadsheet will not run: a cell starting with = + - @ (or a tab / CR) is
    prefixed with an apostrophe (CSV formula injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---------------------------------------------------------------------------- event log


@require_GET
@login_required
@permission_required("trading.view_event", raise_exception=True)
def event_list(request):
    params = request.GET.copy()
    if "node" not in params:
        first = Node.objects.order_by("name").values_list("name", flat=True).first()
        if first is not None:
            params["node"] = first
    form = EventFilterForm(params)
    rows, next_before, durable = [], None, 0
    if form.is_valid():
        rows, next_before, durable = event_page(form.event_filter(), form.cleaned_data.get("before"))
    query = params.copy()
    query.pop("before", None)
    return render(
        request,
        "trading/event_list.html",
        {
            "form": form,
            "events": rows,
            "next_before": next_before,
            "durable": durable,
            "query": query.urlencode(),
            "node": form.cleaned_data.get("node") if form.is_valid() else None,
        },  # fmt: skip
    )


@require_GET
@login_required
@permission_required("trading.view_event", raise_exception=True)
def event_detail(request, name: str, seq: int):
    node = Node.objects.filter(name=name).first()
    event = event_get(node, seq) if node is not None else None
    if event is None:
        raise Http404("no such durable event")
    fields = [(f.name, getattr(event, f.attname)) for f in Event._meta.concrete_fields if f.name != "node"]
    return render(request, "trading/event_detail.html", {"node": node, "event": event, "fields": fields})


@require_GET
@login_required
@permission_required("trading.view_order", raise_exception=True)
def node_orders(request, name: str):
    node = _node_or_404(name)
    before = request.GET.get("before") or None
    if before is not None and (not before.isdigit() or len(before) > 19):
        return HttpResponseBadRequest("before must be a client order id")
    rows, next_before = order_rows(node, int(before) if before else None)
    return render(request, "trading/node_orders.html",
                  {"node": node, "rows": rows, "next_before": next_before, "fills": fill_rows(node)})  # fmt: skip


@require_GET
@login_required
@permission_required("trading.view_event", raise_exception=True)
def event_state_at(request, name: str):
    """The engine state at ?seq=N, rebuilt by snapshot + replay and proven against the journal."""
    node = _node_or_404(name)
    raw = request.GET.get("seq")
    context = {"node": node, "raw_seq": (raw or "")[:40], "state": None, "error": None}
    status = 200
    if raw is not None:
        try:
            context["state"] = state_at(node.name, parse_seq(raw))
        except StateAtError as exc:
            context["error"], status = exc, exc.status
    return render(request, "trading/state_at.html", context, status=status)


# ---------------------------------------------------------------------------- risk page


def _operator_powers(user) -> dict[str, bool]:
    """Which operator controls a user gets on a node's pages (the socket and the services
    refuse the others anyway)."""
    return {
        "kill": user.has_perm("trading.kill_node"),
        "cancel_all": user.has_perm("trading.cancel_all_node"),
        "reduce_only": user.has_perm("trading.reduce_only_node"),
        "disconnect": user.has_perm("trading.disconnect_node"),
        "request_resume": user.has_perm("trading.request_resume_node"),
        "decide": user.has_perm("trading.decide_approvalrequest"),
    }


@require_GET
@login_required
@permission_required("trading.view_node", raise_exception=True)
def node_risk(request, name: str):
    """Limits with their usage, drawdown, daily loss and circuit breakers, live over the node's
    socket; the same operator controls as the node page."""
    node = _node_or_404(name)
    return render(
        request,
        "trading/node_risk.html",
        {"node": node, "instruments": node_instruments(node), "can": _operator_powers(request.user)},
    )
