"""The config page of a node: its strategy parameters and risk limits edited in a form, its
versions with their diffs, rollback. Writes go through trading.services.config_changes (audited,
the node told to reload, raised limits to a second user); these views only parse and show."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from trading.audit import Actor
from trading.backtest.config import ConfigError
from trading.forms.config import ConfigEditForm, RollbackForm
from trading.models import Node, NodeConfigVersion
from trading.selectors.config import config_versions, reload_command
from trading.selectors.console import node_get
from trading.services.config_changes import (
    CHANGE_PERMISSION,
    ConfigProposal,
    StaleConfig,
    propose_node_config,
)
from trading.services.operations import OperationDenied, require_permission

VIEW_PERMISSION = "trading.view_nodeconfigversion"


def _node_or_404(name: str) -> Node:
    try:
        return node_get(name)
    except Node.DoesNotExist as exc:
        raise Http404("no such node") from exc


def _page(request, node: Node, *, form: ConfigEditForm | None = None, error: str = "", status: int = 200):
    active = node.active_config
    if form is None and active is not None:
        form = ConfigEditForm(document=active.document, base_version=active.version)
    context = {
        "node": node,
        "active": active,
        "form": form,
        "error": error,
        "versions": config_versions(node),
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
    }
    return render(request, "trading/node_config.html", context, status=status)


@require_GET
@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
def node_config(request, name: str):
    return _page(request, _node_or_404(name))


def _stale(active: NodeConfigVersion | None, base_version: int) -> str:
    if active is not None and active.version == base_version:
        return ""
    now = active.version if active is not None else "none"
    return (
        f"refused: the active configuration changed since this form was loaded (version "
        f"{base_version}, now {now}); nothing was written, reload the page and make the change again"
    )


def _report(request, node: Node, proposal: ConfigProposal) -> None:
    number = proposal.version.version
    if proposal.approval is not None:
        messages.warning(
            request,
            f"approval #{proposal.approval.pk} requested (raises: {', '.join(proposal.raised)}): a second "
            f"user must approve it; version {number} is stored but not active",
        )
    elif proposal.activated:
        command = reload_command(node, number)
        answer = f"answer: {command.status}" if command is not None else "no command recorded"
        messages.success(request, f"version {number} active, node told to reload ({answer})")
    else:
        messages.info(request, f"version {number} is already the active one: nothing changed")


def _propose(request, node: Node, document: dict, *, comment: str, base_version: int, form=None):
    """Call the service; the page again (with the reason) if it refuses, else a redirect."""
    try:
        proposal = propose_node_config(
            Actor.from_request(request), node.name, document, comment=comment, base_version=base_version
        )
    except OperationDenied as exc:
        return HttpResponseForbidden(exc.reason)
    except LookupError as exc:
        raise Http404(str(exc)) from exc
    except StaleConfig as exc:
        return _page(request, _node_or_404(node.name), form=form, error=f"refused: {exc}", status=409)
    except (ConfigError, ValueError) as exc:
        return _page(request, node, form=form, error=f"refused, nothing written: {exc}", status=400)
    _report(request, node, proposal)
    return redirect("node-config", name=node.name)


def _may_change(request, name: str):
    """An audited refusal (HTTP 403) for a user who may not change configurations, else None."""
    try:
        require_permission(Actor.from_request(request), CHANGE_PERMISSION, "node.config", "node", name)
    except OperationDenied as exc:
        return HttpResponseForbidden(exc.reason)
    return None


@require_POST
@login_required
def node_config_propose(request, name: str):
    if (refused := _may_change(request, name)) is not None:
        return refused
    node = _node_or_404(name)
    active = node.active_config
    if active is None:
        return _page(request, node, error="refused: the node has no active configuration to edit", status=409)
    form = ConfigEditForm(request.POST, document=active.document, base_version=active.version)
    if not form.is_valid():
        return _page(
            request, node, form=form, error="refused, nothing written: see the fields below", status=400
        )
    base_version = form.cleaned_data["base_version"]
    if stale := _stale(active, base_version):
        return _page(request, node, error=stale, status=409)
    document, changed = form.new_document()
    if not changed:
        messages.info(request, "no parameter changed: nothing proposed")
        return redirect("node-config", name=name)
    return _propose(
        request, node, document, comment=form.cleaned_data["comment"], base_version=base_version, form=form
    )


@require_POST
@login_required
def node_config_rollback(request, name: str):
    """Propose an older version's document again: the same rules as any change (a rollback that
    raises a limit needs a second user)."""
    if (refused := _may_change(request, name)) is not None:
        return refused
    node = _node_or_404(name)
    form = RollbackForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return _page(request, node, error=f"refused, nothing written: {errors}", status=400)
    target = NodeConfigVersion.objects.filter(node=node, version=form.cleaned_data["version"]).first()
    if target is None:
        return _page(request, node, error="refused: this node has no such version", status=404)
    base_version = form.cleaned_data["base_version"]
    if stale := _stale(node.active_config, base_version):
        return _page(request, node, error=stale, status=409)
    comment = form.cleaned_data["comment"] or f"roll back to version {target.version}"
    return _propose(request, node, target.document, comment=comment, base_version=base_version)
