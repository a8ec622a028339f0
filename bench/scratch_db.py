"""A PostgreSQL database of a benchmark's own, migrated by `manage.py migrate` and dropped on exit,
on the server the project's settings name (embedded by default). Never the project database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def project_settings():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomic_ops.settings.local")
    django.setup()
    from django.conf import settings

    return settings


class ScratchDatabase:
    def __init__(self, prefix: str, *, keep: bool = False) -> None:
        from tests.integration.harness import database_url_for

        self.admin_url = project_settings().DATABASE_URL
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.url = database_url_for(self.admin_url, self.name)  # also a libpq conninfo
        self.keep = keep

    def __enter__(self) -> ScratchDatabase:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        env = dict(os.environ, DATABASE_URL=self.url, DJANGO_SETTINGS_MODULE="atomic_ops.settings.local")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                       check=True, capture_output=True)  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        import psycopg

        if self.keep:
            print(f"kept database {self.name}", file=sys.stderr)
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def new_node(self) -> int:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(
                "INSERT INTO trading_node (name, description, trading_state, last_status, created_at) "
                "VALUES (%s, '', 'HALTED', '{}', now()) RETURNING id",
                (f"bench-{uuid.uuid4().hex[:8]}",),
            ).fetchone()[0]

    def journal_seqs(self, node_name: str) -> np.ndarray:
        import psycopg

        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT e.seq FROM trading_event e JOIN trading_node n ON n.id = e.node_id "
                "WHERE n.name = %s ORDER BY e.seq",
                (node_name,),
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
