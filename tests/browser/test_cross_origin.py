"""A page of another origin cannot open the console's websocket, even in a browser signed in to
the console (its cookies are same-site for any port of the same host: the origin check is what
stops it)."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.integration.harness import Processes, start_web
from trading.models import Node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROBE = """<!doctype html><title>probing</title><script>
const socket = new WebSocket("ws://127.0.0.1:%(port)d/ws/nodes/%(node)s/");
socket.onopen = () => { document.title = "open"; };
socket.onclose = (event) => { if (document.title !== "open") document.title = "refused " + event.code; };
</script>"""


@pytest.fixture
def other_origin(tmp_path):
    """A page server on another port of the same host: another origin, same site."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_of_another_origin_cannot_open_the_socket(
    e2e_env, tmp_path_factory, page, make_user, other_origin
):
    folder, origin = other_origin
    node = Node.objects.create(name="xo-node", trading_state=Node.TradingState.ACTIVE)
    processes = Processes(env=e2e_env, logs=tmp_path_factory.mktemp("xo"))
    try:
        port = start_web(processes)
        base = f"http://127.0.0.1:{port}"
        sign_in(page, base, make_user("operator").username, PASSWORD)
        page.goto(f"{base}/nodes/{node.name}/")  # the console's own page opens it
        page.wait_for_function("document.getElementById('connection').textContent === 'live'")
        (folder / "probe.html").write_text(PROBE % {"port": port, "node": node.name})
        page.goto(f"{origin}/probe.html")
        page.wait_for_function("document.title !== 'probing'")
        assert page.title().startswith("refused"), page.title()
    finally:
        processes.stop_all()
