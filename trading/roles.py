"""The console's roles: Django groups and the permissions each one holds.

    viewer        sees every page, acts on nothing
    operator      viewer + kill, cancel all, reduce-only, disconnect, ask for a resume
    risk manager  operator + decides other users' requests (resume, raised limits, re-enabled
                  strategies) and edits risk limits (raising one still needs a second user)
    admin         everything (user management stays with Django superusers)

Defined here once; `sync_roles()` makes the database match (run after every migrate, and by
`manage.py sync_roles`). Permissions other code grants by hand are left alone only on groups
that are not roles.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

VIEWER, OPERATOR, RISK_MANAGER, ADMIN = "viewer", "operator", "risk manager", "admin"

_VIEW = [
    "trading.view_node",
    "trading.view_nodeconfigversion",
    "trading.view_backtestrun",
    "trading.view_event",
    "trading.view_order",
    "trading.view_fill",
    "trading.view_position",
    "trading.view_journalhighwatermark",
    "trading.view_auditentry",
    "trading.view_approvalrequest",
    "trading.view_risklimit",
    "trading.view_strategyconfig",
    "trading.view_venue",
    "trading.view_instrument",
]
_OPERATE = [
    "trading.kill_node",
    "trading.cancel_all_node",
    "trading.reduce_only_node",
    "trading.disconnect_node",
    "trading.request_resume_node",
    "trading.add_approvalrequest",
]
_RISK = [
    "trading.decide_approvalrequest",
    "trading.export_auditentry",
    "trading.change_nodeconfigversion",
    "trading.add_nodeconfigversion",
    "trading.change_risklimit",
    "trading.add_strategyconfig",
]
_ADMIN = [
    "trading.add_node",
    "trading.change_node",
    "trading.add_backtestrun",
    "trading.delete_backtestrun",
    "trading.add_venue",
    "trading.change_venue",
    "trading.add_instrument",
]

ROLES: dict[str, tuple[str, ...]] = {
    VIEWER: tuple(_VIEW),
    OPERATOR: tuple(_VIEW + _OPERATE),
    RISK_MANAGER: tuple(_VIEW + _OPERATE + _RISK),
    ADMIN: tuple(_VIEW + _OPERATE + _RISK + _ADMIN),
}


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".", 1)
    try:
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)
    except Permission.DoesNotExist:
        raise LookupError(f"role permission {name} does not exist (migrations not applied?)") from None


@transaction.atomic
def sync_roles() -> dict[str, int]:
    """Create the role groups and set exactly their permissions; {role: permission count}."""
    counts = {}
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([_permission(name) for name in names])
        counts[role] = len(names)
    return counts


def roles_of(user) -> list[str]:
    if not getattr(user, "is_authenticated", False):
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in ROLES if role in names]
