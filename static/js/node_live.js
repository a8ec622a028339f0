// Live node page: one websocket (ws/nodes/<node>/) brings a snapshot then deltas of the node's
// panel; the operator buttons send commands over the same socket. Reconnects with backoff and
// starts again from a snapshot.
const script = document.getElementById("node-live-script");
const node = script.dataset.node;
const instruments = JSON.parse(document.getElementById("instruments").textContent);
const STATES = ["ACTIVE", "REDUCING", "HALTED"];
let panel = null;
let socket = null;
let backoff = 500;

const $ = (id) => document.getElementById(id);
const spec = (index) => instruments[index] || { price_decimals: 0, qty_decimals: 0, tick_size: "1", lot_size: "1" };
const price = (ticks, s) => (ticks * Number(s.tick_size)).toFixed(s.price_decimals);
const qty = (lots, s) => (lots * Number(s.lot_size)).toFixed(s.qty_decimals);
const money = (nano) => (nano / 1e9).toFixed(6); // the engine keeps money in nano-units of the quote currency
const us = (ns) => (ns == null ? "–" : ns >= 1e6 ? (ns / 1e6).toFixed(2) + " ms" : (ns / 1e3).toFixed(1) + " µs");

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function rows(tbody, list) {
  tbody.replaceChildren(...list.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    return tr;
  }));
}

function render() {
  if (!panel) return;
  $("seq").textContent = panel.seq;
  const state = STATES[panel.trading_state] || String(panel.trading_state);
  $("trading-state").textContent = state;
  $("trading-state").className = "state state-" + state.toLowerCase();
  const item = (panel.instruments || [])[0];
  if (item) {
    const s = spec(item.index);
    const quotes = new Set((panel.live_orders || []).filter((o) => o.instrument === item.index).map((o) => o.price));
    const bids = item.book.bids || [], asks = item.book.asks || [];
    const ladder = [];
    for (const [p, q] of asks.slice().reverse()) ladder.push([cell(""), cell(price(p, s), "num" + (quotes.has(p) ? " ours" : "")), cell(qty(q, s), "num ask")]);
    for (const [p, q] of bids) ladder.push([cell(qty(q, s), "num bid"), cell(price(p, s), "num" + (quotes.has(p) ? " ours" : "")), cell("")]);
    rows($("ladder").tBodies[0], ladder);
    $("imbalance").textContent = "imbalance " + (item.signals.imbalance_e6 / 1e6).toFixed(3);
    const pos = item.position;
    rows($("positions").tBodies[0], [
      [cell(item.symbol + " position"), cell(qty(pos.qty, s), "num")],
      [cell("realized PnL (net of fees)"), cell(money(pos.realized - pos.fees), "num")],
      [cell("unrealized PnL"), cell(money(pos.unrealized), "num")],
      [cell("fills / round trips"), cell(pos.fills + " / " + pos.round_trips, "num")],
    ]);
    const g = item.signals;
    rows($("signals").tBodies[0], [
      [cell("microprice"), cell(price(g.microprice_e6 / 1e6, s), "num")],
      [cell("VPIN"), cell((g.vpin_e6 / 1e6).toFixed(3), "num")],
      [cell("volatility (var e6)"), cell(String(g.vol_var_e6), "num")],
      [cell("quotes bid / ask id"), cell(item.quotes.bid_id + " / " + item.quotes.ask_id, "num")],
    ]);
  }
  const stages = ((panel.metrics || {}).stages) || {};
  rows($("latency").tBodies[0], Object.entries(stages).map(([name, h]) => {
    const t = h.total || {};
    return [cell(name), cell(us(t.p50_ns), "num"), cell(us(t.p99_ns), "num"), cell(String(t.count || 0), "num")];
  }));
  rows($("orders").tBodies[0], (panel.live_orders || []).slice(0, 20).map((o) => {
    const s = spec(o.instrument);
    return [cell(String(o.client_id)), cell(o.side === 0 ? "buy" : "sell"), cell(price(o.price, s), "num"), cell(qty(o.qty, s), "num"), cell(qty(o.filled, s), "num")];
  }));
}

function onMessage(event) {
  const message = JSON.parse(event.data);
  if (message.type === "snapshot") {
    panel = message.panel;
    render();
  } else if (message.type === "delta" && panel) {
    Object.assign(panel, message.changed);
    render();
  } else if (message.type === "command_result") {
    $("command-result").textContent = `${message.command}: ${message.status}` + (message.detail ? ` (${message.detail})` : "");
    $("command-result").dataset.status = message.status;
  } else if (message.type === "refused" || message.type === "error") {
    $("command-result").textContent = `${message.command || ""} refused: ${message.reason}`;
    $("command-result").dataset.status = "REFUSED";
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/nodes/${node}/`);
  socket.addEventListener("open", () => { backoff = 500; $("connection").textContent = "live"; });
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", (event) => {
    $("connection").textContent = event.code >= 4400 ? `closed (${event.code})` : "reconnecting…";
    panel = null;
    if (event.code >= 4400) return; // refused by the server: reconnecting would not help
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  });
}

for (const button of document.querySelectorAll("#actions button[data-command]")) {
  button.addEventListener("click", () => {
    if (!window.confirm(button.dataset.confirm)) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      $("command-result").textContent = "not connected: command not sent";
      return;
    }
    $("command-result").textContent = `${button.dataset.command}: sent…`;
    socket.send(JSON.stringify({ action: "command", command: button.dataset.command }));
  });
}

connect();
