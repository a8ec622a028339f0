"""Sign-in, lockout, CSRF, roles and the production deploy check."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.integration.harness import ROOT
from trading.roles import ADMIN, OPERATOR, RISK_MANAGER, ROLES, VIEWER, roles_of, sync_roles

pytestmark = pytest.mark.django_db

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def login(client: Client, username: str, password: str, **extra):
    """Sign in through the real form, CSRF token included."""
    page = client.get(reverse("login"), **extra)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(
        reverse("login"), {"username": username, "password": password, "csrfmiddlewaretoken": token}, **extra
    )


def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


# ---------------------------------------------------------------------------- pages and sign-in


def test_pages_need_a_signed_in_user_and_a_view_permission(client, make_user):
    assert client.get(reverse("overview")).status_code == 302
    assert client.get(reverse("overview"))["Location"] == "/login/?next=/"
    client.force_login(make_user(None))
    assert client.get(reverse("overview")).status_code == 403, "signed in but in no role"
    client.force_login(make_user(VIEWER))
    assert client.get(reverse("overview")).status_code == 200


def test_sign_in_through_the_form_and_sign_out_by_post_only(make_user):
    user = make_user(VIEWER)
    client = strict_client()
    response = login(client, user.username, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get(reverse("overview"))
    assert page.status_code == 200 and f'id="signed-in-as">{user.username}<' in page.content.decode()
    assert client.get(reverse("logout")).status_code == 405, "a link cannot sign anyone out"
    token = CSRF_INPUT.search(page.content.decode()).group(0).split('value="')[1][:-1]
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get(reverse("overview")).status_code == 302, "signed out"


def test_posts_without_a_csrf_token_are_refused(make_user):
    user = make_user(VIEWER)
    client = strict_client()
    client.get(reverse("login"))
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 403
    client.force_login(user)
    assert client.post(reverse("logout")).status_code == 403


def test_next_never_redirects_off_site(make_user):
    user = make_user(VIEWER)
    client = strict_client()
    page = client.get(reverse("login") + "?next=https://evil.example/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        reverse("login"),
        {
            "username": user.username,
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/"


def _failure_page(client: Client, username: str, address: str) -> tuple[int, str]:
    response = login(client, username, "wrong-password-123", REMOTE_ADDR=address)
    return response.status_code, CSRF_INPUT.sub("", response.content.decode())


def test_lockout_after_five_failures_and_unknown_names_look_the_same(make_user):
    user = make_user(OPERATOR)
    real, ghost = Client(), Client()
    for _ in range(5):
        assert _failure_page(real, user.username, "10.0.0.1") == _failure_page(
            ghost, "no-such-user", "10.0.0.2"
        )
    status, body = _failure_page(real, user.username, "10.0.0.1")
    assert status == 429 and 'id="locked-out"' in body
    assert _failure_page(ghost, "no-such-user", "10.0.0.2") == (status, body), "no username enumeration"
    locked = login(Client(), user.username, PASSWORD, REMOTE_ADDR="10.0.0.1")
    assert locked.status_code == 429, "the right password does not open a locked account"
    elsewhere = login(Client(), user.username, PASSWORD, REMOTE_ADDR="10.0.0.9")
    assert elsewhere.status_code == 302, "the lock is per username and address"


@pytest.mark.parametrize(
    "username",
    ["x" * 10_000, "nul\x00byte", "' OR 1=1 --", "<script>alert(1)</script>", "", " ", "ü" * 151],
)
def test_hostile_usernames_are_plain_failures(make_user, username):
    client = Client()
    response = login(client, username, "whatever-password")
    assert (
        response.status_code == 200
        and 'id="login-error"' in response.content.decode()
        or not username.strip()
    )
    assert "_auth_user_id" not in client.session
    assert "<script>alert(1)</script>" not in response.content.decode()


def test_request_ids_are_echoed_when_well_formed_and_replaced_otherwise(client):
    good = client.get(reverse("login"), HTTP_X_REQUEST_ID="req-12345678")
    assert good["X-Request-ID"] == "req-12345678"
    for bad in ("short", "x" * 65, "has space 1234", "inject\r\nheader"):
        response = client.get(reverse("login"), HTTP_X_REQUEST_ID=bad)
        assert response["X-Request-ID"] != bad and re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


# ---------------------------------------------------------------------------- roles


def _codes(group: Group) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def test_role_groups_exist_after_migrate_with_exactly_their_permissions():
    for role, names in ROLES.items():
        assert _codes(Group.objects.get(name=role)) == set(names)
    assert set(ROLES[VIEWER]) < set(ROLES[OPERATOR]) < set(ROLES[RISK_MANAGER]) < set(ROLES[ADMIN])
    assert "trading.kill_node" not in ROLES[VIEWER]
    assert "trading.decide_approvalrequest" not in ROLES[OPERATOR]


def test_sync_roles_repairs_a_tampered_group_and_is_idempotent(capsys):
    operator = Group.objects.get(name=OPERATOR)
    operator.permissions.remove(Permission.objects.get(codename="kill_node"))
    operator.permissions.add(Permission.objects.get(codename="decide_approvalrequest"))
    call_command("sync_roles")
    assert "operator: " in capsys.readouterr().out
    assert _codes(operator) == set(ROLES[OPERATOR])
    assert sync_roles() == sync_roles()
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)


def test_roles_of_a_user(make_user):
    from django.contrib.auth.models import AnonymousUser

    assert roles_of(make_user(RISK_MANAGER)) == [RISK_MANAGER]
    assert roles_of(make_user(None)) == []
    assert roles_of(AnonymousUser()) == []


# ---------------------------------------------------------------------------- deploy check


def _production_env(secret: str) -> dict:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="atomic_ops.settings.production",
        DJANGO_SECRET_KEY=secret,
        ALLOWED_HOSTS="console.example",
        DATABASE_URL=os.environ.get("DATABASE_URL") or settings.DATABASE_URL,
        REDIS_URL=os.environ.get("REDIS_URL") or settings.REDIS_URL,
    )
    return env


def test_check_deploy_is_clean_for_the_production_settings():
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_production_env(secrets.token_urlsafe(64)), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_production_refuses_a_weak_secret_key():
    out = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env=_production_env("short"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode != 0 and "DJANGO_SECRET_KEY" in out.stderr
