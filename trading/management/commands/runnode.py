"""manage.py runnode: run a trading node.

    python manage.py runnode --node NAME [--config FILE.json]

With --config the document is validated, stored as a new configuration version of the node
(creating the node) and made active; without it the node's active version is used. A bad
document or missing credentials end in one clear error line before anything connects.
Thin: the node itself (trading.engine.node) never imports Django.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import orjson
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

from atomic_ops.env import environment
from trading.backtest.config import ConfigError
from trading.binance.keyed_hmac import KeyedHmacSigner
from trading.binance.signing import Ed25519Signer, Signer
from trading.engine.config import NodeConfig, parse_node_config
from trading.engine.node import Node, NodeError, NodeServices
from trading.engine.paths import check_node_name, node_state_dir
from trading.journal_sink import restore_journal
from trading.journal_sink_process import JournalSinkProcess
from trading.models import Node as NodeRow
from trading.models import NodeConfigVersion
from trading.services.instrument_registry import instrument_registry
from trading.services.nodes import node_config_activate, node_status_report


def conninfo_from_settings() -> str:
    """The default database as a libpq conninfo string for the journal sink (psycopg 3)."""
    params = dict(connection.get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})


def signer_for(config: NodeConfig) -> tuple[str, Signer, bool]:
    """(api key, signer, session logon). HMAC keys sign every request (with a keyed HMAC, the
    cheaper form); Ed25519 keys log the session on once."""
    env = environment()
    api_key = config.venue.api_key or env.venue_api_key
    if not api_key:
        raise CommandError("no venue API key: set venue.api_key in the node document or ATOMIC_VENUE_API_KEY")
    secret = config.venue.hmac_secret or env.venue_hmac_secret
    key_file = config.venue.ed25519_key_file or env.venue_ed25519_key_file
    if secret:
        return api_key, KeyedHmacSigner(secret), False
    if key_file:
        try:
            return api_key, Ed25519Signer(Path(key_file).read_bytes()), True
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot use the Ed25519 key {key_file}: {exc}") from exc
    raise CommandError(
        "no venue credentials: set venue.hmac_secret or venue.ed25519_key_file (or the environment)"
    )


class Command(BaseCommand):
    help = "Run a trading node against its venue (the simulated venue by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", required=True, help="node name")
        parser.add_argument(
            "--config", type=Path, help="node document (JSON) to validate, store and activate"
        )
        parser.add_argument("--comment", default="", help="a note stored with a new configuration version")

    def handle(self, *args, **options) -> None:
        try:
            name = check_node_name(options["node"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        node_row, config = self._configuration(name, options["config"], options["comment"])
        api_key, signer, session_logon = signer_for(config)
        services = NodeServices(
            state_dir=node_state_dir(Path(settings.ATOMIC_OPS["VAR_DIR"]), name),
            api_key=api_key,
            signer=signer,
            node_id=node_row.pk,
            conninfo=conninfo_from_settings(),
            redis_url=settings.ATOMIC_OPS["REDIS_URL"],
            fetch_config=lambda version: _fetch_config(node_row.pk, version),
            report_status=lambda snapshot: _report(node_row.pk, snapshot),
            make_sink=JournalSinkProcess,
            restore_journal=restore_journal,
            session_logon=session_logon,
            instruments=instrument_registry(),
        )
        logging.basicConfig(
            level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        try:
            exit_code = asyncio.run(Node(config, services).run())
        except NodeError as exc:
            raise CommandError(str(exc)) from exc
        if exit_code:
            raise CommandError(f"node {name} stopped with exit code {exit_code}")

    def _configuration(self, name: str, path: Path | None, comment: str) -> tuple[NodeRow, NodeConfig]:
        try:
            if path is not None:
                try:
                    document = orjson.loads(path.read_bytes())
                except OSError as exc:
                    raise CommandError(f"--config: cannot read {path}: {exc.strerror or exc}") from exc
                except orjson.JSONDecodeError as exc:
                    raise CommandError(f"--config: {path} is not valid JSON: {exc}") from exc
                if not isinstance(document, dict):
                    raise CommandError(f"--config: {path} must hold a JSON object")
                node_row, _, config = node_config_activate(node_name=name, document=document, comment=comment)
                return node_row, config
            node_row = NodeRow.objects.select_related("active_config").filter(name=name).first()
            if node_row is None:
                raise CommandError(f"no node named {name!r}: create it with --config FILE.json")
            if node_row.active_config is None:
                raise CommandError(f"node {name!r} has no active configuration: give --config FILE.json")
            return node_row, parse_node_config(
                node_row.active_config.document, registry=instrument_registry()
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc


def _fetch_config(node_id: int, version: int) -> dict:
    close_old_connections()
    return NodeConfigVersion.objects.get(node_id=node_id, version=version).document


def _report(node_id: int, snapshot: dict) -> None:
    close_old_connections()
    node_status_report(node_id=node_id, snapshot=snapshot)
