"""The audit trail pages: filters, keyset pages, detail, CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from trading.audit import Actor, record_audit, verify_chain
from trading.models import AuditEntry

pytestmark = pytest.mark.django_db


def fill(n: int) -> None:
    for k in range(n):
        actor = Actor(
            user=None, username="alice" if k % 2 else "bob", source_ip="10.0.0.7", request_id=f"req-{k:08d}"
        )
        target = "=HYPERLINK('http://evil')" if k == 5 else f"n{k % 4}"  # a cell a spreadsheet would run
        action = "node.kill" if k % 3 == 0 else "approval.request.resume"
        record_audit(actor, action, "node", target, before={"k": k}, after={"note": "<script>x</script>"})


def test_viewers_read_the_trail_newest_first_in_keyset_pages(client, make_user):
    fill(120)
    client.force_login(make_user("viewer"))
    body = client.get(reverse("audit-list")).content.decode()
    assert 'href="/audit/120/"' in body and 'href="/audit/71/"' in body and 'href="/audit/70/"' not in body
    assert 'id="older"' in body and "before=71" in body
    page2 = client.get(reverse("audit-list"), {"before": 71}).content.decode()
    assert 'href="/audit/70/"' in page2 and 'href="/audit/21/"' in page2 and 'href="/audit/20/"' not in page2
    page3 = client.get(reverse("audit-list"), {"before": 21}).content.decode()
    assert 'href="/audit/1/"' in page3 and 'id="older"' not in page3
    assert 'id="export"' not in body, "a viewer cannot export"


def test_filters_narrow_the_trail(client, make_user):
    fill(30)
    client.force_login(make_user("viewer"))

    def seqs(**params) -> set[int]:
        body = client.get(reverse("audit-list"), params).content.decode()
        return {int(s) for s in __import__("re").findall(r'href="/audit/(\d+)/"', body)}

    assert seqs(actor="ali") == {e.seq for e in AuditEntry.objects.filter(actor_username="alice")}
    assert seqs(action="node.") == {e.seq for e in AuditEntry.objects.filter(action="node.kill")}
    assert seqs(target="node:n1") == {e.seq for e in AuditEntry.objects.filter(target_id="n1")}
    assert seqs(request_id="req-00000007") == {8}
    assert seqs(since="2000-01-01 00:00", until="2000-01-02 00:00") == set()


@pytest.mark.parametrize(
    "params",
    [
        {"action": "node'; DROP TABLE trading_auditentry; --"},
        {"before": "-5"},
        {"before": "abc"},
        {"before": str(2**70)},
        {"since": "yesterday"},
        {"since": "2026-01-02 00:00", "until": "2026-01-01 00:00"},
        {"actor": "x" * 151},
        {"request_id": "has space"},
    ],
)
def test_bad_filters_are_refused_with_a_message(client, make_user, params):
    fill(3)
    client.force_login(make_user("viewer"))
    response = client.get(reverse("audit-list"), params)
    assert response.status_code == 200 and 'id="filter-error"' in response.content.decode()
    assert AuditEntry.objects.count() == 3 and verify_chain().ok


def test_detail_shows_before_and_after(client, make_user):
    fill(6)
    client.force_login(make_user("viewer"))
    body = client.get(reverse("audit-detail", args=[6])).content.decode()
    assert "HYPERLINK" in body and "&lt;script&gt;" in body and "<script>x" not in body
    assert client.get(reverse("audit-detail", args=[999])).status_code == 404


def test_risk_managers_export_csv_safely_and_the_export_is_audited(client, make_user):
    fill(10)
    manager = make_user("risk manager")
    client.force_login(manager)
    response = client.get(reverse("audit-export"), {"actor": "alice"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["seq", "at", "actor_username"] and len(rows) == 1 + 5
    assert all(row[2] == "alice" for row in rows[1:])
    assert "'=HYPERLINK('http://evil')" in [row[6] for row in rows[1:]], "prefixed, not dropped"
    assert not any(cell.startswith("=") for row in rows for cell in row), "no cell a spreadsheet would run"
    export = AuditEntry.objects.order_by("-seq").first()
    assert (
        export.action == "audit.export"
        and export.actor_id == manager.pk
        and export.after["filter"] == {"actor": "alice"}
    )
    client.force_login(make_user("viewer"))
    assert client.get(reverse("audit-export")).status_code == 403
    client.force_login(manager)
    assert client.get(reverse("audit-export"), {"before": "x"}).status_code == 400
    # parameters that are not filters are ignored, also in the export's own audit entry
    assert client.get(reverse("audit-export"), {"junk": "x" * 300_000}).status_code == 200
    assert AuditEntry.objects.order_by("-seq").first().after == {"filter": {}}
