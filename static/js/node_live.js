// Live node page: the node's panel (snapshot then deltas over node_socket.js) drawn as the book
// ladder, position, signals, the A-S internals, latency percentiles and histograms, live orders;
// the operator buttons send their commands over the same socket.
import { bindCommandButtons, nodeSocket } from "./node_socket.js";

const script = document.getElementById("node-live-script");
const node = script.dataset.node;
const instruments = JSON.parse(document.getElementById("instruments").textContent);
const STATES = ["ACTIVE", "REDUCING", "HALTED"];
const HISTOGRAM_FRAMES = 100; // ~10 s of frames at 10 Hz
const BIN_UPPERS = [16]; // the node's log2 buckets (metrics.py): (0, 16 ns], then powers of two to 2^36 ns, then above
for (let p = 5; p <= 36; p++) BIN_UPPERS.push(2 ** p);
BIN_UPPERS.push(null);
const latencyFrames = {}; // stage -> the last HISTOGRAM_FRAMES frames' buckets
let panel = null;

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

function collectLatency(stages) {
  for (const [name, h] of Object.entries(stages)) {
    const frames = latencyFrames[name] || (latencyFrames[name] = []);
    frames.push(h.buckets || []);
    if (frames.length > HISTOGRAM_FRAMES) frames.shift();
  }
}

function histogramSvg(frames) {
  const counts = new Map();
  for (const buckets of frames) for (const [upper, n] of buckets) counts.set(upper, (counts.get(upper) || 0) + n);
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const w = 4 * BIN_UPPERS.length, h = 28;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "histogram");
  const max = Math.max(1, ...counts.values());
  BIN_UPPERS.forEach((upper, k) => {
    const n = counts.get(upper) || 0;
    const rect = document.createElementNS(svgNs, "rect");
    const bar = n ? Math.max(1, Math.round((h * n) / max)) : 0;
    rect.setAttribute("x", String(4 * k));
    rect.setAttribute("y", String(h - bar));
    rect.setAttribute("width", "3");
    rect.setAttribute("height", String(bar));
    const title = document.createElementNS(svgNs, "title");
    title.textContent = (upper == null ? "> 68.7 s" : "≤ " + (upper < 1000 ? upper + " ns" : us(upper))) + ": " + n;
    rect.append(title);
    svg.append(rect);
  });
  return svg;
}

function renderHistograms() {
  const list = $("latency-histograms");
  if (!list) return;
  const items = Object.entries(latencyFrames).filter(([, frames]) => frames.some((b) => b.length)).map(([name, frames]) => {
    const li = document.createElement("li");
    li.dataset.stage = name;
    const label = document.createElement("span");
    label.textContent = name;
    li.append(label, histogramSvg(frames));
    return li;
  });
  list.replaceChildren(...items);
}

function renderStrategy() {
  const tbody = $("as-internals") && $("as-internals").tBodies[0];
  if (!tbody) return;
  rows(tbody, (panel.instruments || []).filter((item) => item.strategy).map((item) => {
    const s = spec(item.index), st = item.strategy, g = item.signals;
    const ticks = (e6) => (e6 == null ? "–" : price(e6 / 1e6, s));
    const halfSpread = st.half_spread_e6 == null ? "–" : ((st.half_spread_e6 / 1e6) * Number(s.tick_size)).toFixed(s.price_decimals + 2);
    const ratio = st.orders == null ? "–" : st.fills ? (st.orders / st.fills).toFixed(1) : "∞";
    const q = st.order_qty ? (st.inventory / st.order_qty).toFixed(2) : "–";
    return [
      cell(item.symbol + " " + st.kind), cell(ticks(st.reservation_e6), "num reservation"), cell(halfSpread, "num"),
      cell(qty(st.inventory, s) + " (q " + q + ")", "num"), cell((g.vpin_e6 / 1e6).toFixed(3), "num"),
      cell(Math.sqrt(g.vol_var_e6 / 1e6).toFixed(2), "num"), cell(st.quotes + " / " + (st.orders ?? "–"), "num"),
      cell(ratio, "num order-fill"), cell(money(st.realized_pnl), "num"),
    ];
  }));
}

function onPanel(current, changed) {
  panel = current;
  if (!changed || "metrics" in changed) collectLatency(((panel.metrics || {}).stages) || {});
  render();
  renderStrategy();
  renderHistograms();
}

bindCommandButtons(document.getElementById("actions"), nodeSocket(node, onPanel));
