"""Telling open console sockets that a user's access may have changed, when it changes.

A console socket checks its user again when told to: the user signed out, was saved (deactivated,
password changed), deleted, or got other roles or permissions; a role's permissions changed
(every socket checks). The message goes over the channel layer after the transaction commits,
to the group of that user's sockets (`console-user-<pk>`) or of all of them (`console-all`),
so an operator who signs out in one tab loses every open socket within moments instead of at
the next poll. Sockets still check on their own every `ACCESS_RECHECK_S` (consumers.py) for what
happens outside Django (a session that expires, rows edited by hand).

A failure to notify (Redis down) is logged and never fails the sign-out or the admin edit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

log = logging.getLogger(__name__)

EVERY_SOCKET = "console-all"
MESSAGE = {"type": "access.changed"}


def user_group(pk: object) -> str:
    return f"console-user-{int(pk)}"


def _send(groups: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, MESSAGE)
    except Exception:  # the sockets' own periodic check still catches the change
        log.warning("could not tell the console sockets that access changed (%s)", groups, exc_info=True)


def notify_users(pks: Iterable[object]) -> None:
    groups = sorted({user_group(pk) for pk in pks if pk is not None})
    if groups:
        transaction.on_commit(lambda: _send(groups))


def notify_every_socket() -> None:
    transaction.on_commit(lambda: _send([EVERY_SOCKET]))


def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        notify_users([user.pk])


def _user_saved_or_deleted(sender, instance, **kwargs) -> None:
    if kwargs.get("raw") or kwargs.get("created"):
        return  # fixture loading; a new user has no socket yet
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a sign-in grants nothing new to an open socket
    notify_users([instance.pk])


def _user_relations_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """User.groups and User.user_permissions, from either side."""
    if not action.startswith("post_"):
        return
    if not reverse:  # user.groups.add(...): the instance is the user
        notify_users([instance.pk])
    elif action == "post_clear":  # group.user_set.clear(): who was in it is gone already
        notify_every_socket()
    else:  # group.user_set.add(users) / permission.user_set.remove(users)
        notify_users(pk_set or ())


def _group_permissions_changed(sender, instance, action, reverse, **kwargs) -> None:
    """A role's permissions: every member of the role may be affected."""
    if action.startswith("post_"):
        notify_every_socket()


def _group_deleted(sender, instance, **kwargs) -> None:
    notify_every_socket()


def connect_signals() -> None:
    User = get_user_model()
    uid = "trading.access_changes."
    user_logged_out.connect(_logged_out, dispatch_uid=uid + "logged_out")
    post_save.connect(_user_saved_or_deleted, sender=User, dispatch_uid=uid + "user_saved")
    post_delete.connect(_user_saved_or_deleted, sender=User, dispatch_uid=uid + "user_deleted")
    m2m_changed.connect(_user_relations_changed, sender=User.groups.through, dispatch_uid=uid + "groups")
    m2m_changed.connect(
        _user_relations_changed, sender=User.user_permissions.through, dispatch_uid=uid + "user_permissions"
    )
    m2m_changed.connect(
        _group_permissions_changed, sender=Group.permissions.through, dispatch_uid=uid + "group_permissions"
    )
    post_delete.connect(_group_deleted, sender=Group, dispatch_uid=uid + "group_deleted")
