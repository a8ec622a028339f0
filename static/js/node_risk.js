// Risk page of a node: the limits of the panel's "risk" sections (node-wide and per instrument)
// with usage bars, drawdown, daily loss and the circuit breakers, live over node_socket.js; the
// operator buttons send their commands over the same socket. A limit the node reports as null is
// disabled and shown as "no limit".
import { bindCommandButtons, nodeSocket } from "./node_socket.js";

const script = document.getElementById("node-risk-script");
const node = script.dataset.node;
const instruments = JSON.parse(document.getElementById("instruments").textContent);
const STATES = ["ACTIVE", "REDUCING", "HALTED"];
const WARN = 0.5; // usage fraction from which a bar turns yellow...
const BAD = 0.8; // ...and red

const $ = (id) => document.getElementById(id);
const spec = (index) => instruments[index] || { price_decimals: 0, qty_decimals: 0, tick_size: "1", lot_size: "1", symbol: String(index) };
const money = (nano) => (nano / 1e9).toFixed(2); // nano-units of the settlement (or quote) currency
const count = (n) => String(n);

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function bar(used, limit) {
  const td = document.createElement("td");
  const outer = document.createElement("div");
  const inner = document.createElement("span");
  outer.append(inner);
  td.append(outer);
  if (limit == null || used == null) {
    outer.className = "usage off";
    return td;
  }
  const fraction = limit > 0 ? Math.min(1, Math.max(0, used / limit)) : 1;
  outer.className = "usage " + (fraction >= BAD ? "bad" : fraction >= WARN ? "warn" : "ok");
  outer.dataset.fraction = fraction.toFixed(3);
  inner.style.width = (100 * fraction).toFixed(1) + "%";
  return td;
}

// [key, label, used, limit, format, tripped?] -> a row with its usage bar
function limitRow(key, label, used, limit, format, tripped = false) {
  const tr = document.createElement("tr");
  tr.dataset.limit = key;
  if (tripped) tr.className = "tripped";
  tr.append(cell(label), cell(used == null ? "–" : format(used), "num used"),
    cell(limit == null ? "no limit" : format(limit), "num limit"), bar(used, limit));
  return tr;
}

function render(panel) {
  $("seq").textContent = panel.seq;
  const state = STATES[panel.trading_state] || String(panel.trading_state);
  $("trading-state").textContent = state;
  $("trading-state").className = "state state-" + state.toLowerCase();
  const r = panel.risk;
  if (!r) return; // a node from before the risk read-outs
  const halted = r.trading_state === "HALTED";
  $("halt-reason").textContent = r.trading_state === "ACTIVE" ? "" : `${r.trading_state}: ${r.reason}`;
  const windowMs = (r.rapid_fill_window_ns / 1e6).toFixed(0);
  $("breakers").tBodies[0].replaceChildren(
    limitRow("consecutive_losses", "losing round trips in a row", r.consecutive_losses, r.max_consecutive_losses, count,
      halted && r.reason === "CIRCUIT_LOSSES"),
    limitRow("rapid_fills", `fills within ${windowMs} ms`, r.rapid_fills, r.rapid_fill_count, count,
      halted && r.reason === "CIRCUIT_RAPID_FILLS"),
    limitRow("drawdown", "drawdown (peak − equity)", Math.max(0, r.drawdown), r.max_drawdown, money,
      r.max_drawdown != null && r.drawdown >= r.max_drawdown),
    limitRow("daily_loss", "today's loss", Math.max(0, r.daily_loss), r.max_daily_loss, money,
      r.max_daily_loss != null && r.daily_loss >= r.max_daily_loss),
  );
  $("limits").tBodies[0].replaceChildren(
    limitRow("total_notional", "total notional", r.total_notional, r.max_total_notional, money),
    limitRow("open_orders", "open orders", r.open_orders, r.max_open_orders_total, count),
    limitRow("rate", `order rate (burst, ${r.rate_per_sec}/s refill)`, r.rate_capacity - r.tokens, r.rate_capacity, count),
    limitRow("equity", `equity (peak ${money(r.peak_equity)})`, r.equity, null, money),
  );
  const rows = [];
  for (const item of panel.instruments || []) {
    const u = item.risk;
    if (!u) continue;
    const s = spec(item.index);
    const lots = (n) => (n * Number(s.lot_size)).toFixed(s.qty_decimals);
    const tag = (tr) => { tr.dataset.instrument = item.index; tr.prepend(cell(item.symbol)); return tr; };
    rows.push(
      tag(limitRow("exposure", "position with open orders", u.exposure, u.max_position, lots)),
      tag(limitRow("open_orders", "open orders", u.open_orders, u.max_open_orders, count)),
      tag(limitRow("notional", "notional", u.notional, u.max_notional, money)),
      tag(limitRow("spread", "book spread (ticks)", u.spread_ticks, u.max_spread_ticks, count)),
      tag(limitRow("max_order_qty", "largest order", null, u.max_order_qty, lots)),
      tag(limitRow("collar", "price collar (bps)", null, u.collar_ppm == null ? null : u.collar_ppm / 100, count)),
    );
  }
  $("instrument-limits").tBodies[0].replaceChildren(...rows);
}

bindCommandButtons($("actions"), nodeSocket(node, (panel) => render(panel)));
