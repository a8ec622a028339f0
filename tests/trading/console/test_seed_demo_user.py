"""`make run` seeds a local sign-in: user demo, admin role, random password in an owner-only file."""

import re
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory, override_settings

from trading.roles import ADMIN, roles_of

pytestmark = pytest.mark.django_db


def test_demo_user_is_created_once_with_a_private_password_file(tmp_path, capsys, monkeypatch):
    import trading.management.commands.seed_demo as seed

    monkeypatch.setattr(seed.Command, "_demo_node", lambda self: None)
    monkeypatch.setattr(seed.Command, "_demo_backtest", lambda self: None)
    with override_settings(ATOMIC_OPS={**settings.ATOMIC_OPS, "VAR_DIR": tmp_path}):
        call_command("seed_demo")
        password = re.search(r"with password (\S+)", capsys.readouterr().out).group(1)
        path = Path(tmp_path) / "demo-credentials.txt"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and password in path.read_text()
        user = authenticate(RequestFactory().post("/login/"), username="demo", password=password)
        assert user is not None and roles_of(user) == [ADMIN]
        call_command("seed_demo")
        assert "sign in as 'demo' (password in" in capsys.readouterr().out
        assert path.read_text().count(password) == 1, "the password is not changed by a second run"


def test_no_demo_user_with_the_production_settings(tmp_path, capsys, monkeypatch):
    from django.contrib.auth import get_user_model

    import trading.management.commands.seed_demo as seed

    monkeypatch.setattr(seed.Command, "_demo_node", lambda self: None)
    monkeypatch.setattr(seed.Command, "_demo_backtest", lambda self: None)
    with override_settings(PROFILE="production",
                           ATOMIC_OPS={**settings.ATOMIC_OPS, "VAR_DIR": tmp_path}):  # fmt: skip
        call_command("seed_demo")
    assert "no demo user" in capsys.readouterr().out
    assert not get_user_model().objects.filter(username="demo").exists()
