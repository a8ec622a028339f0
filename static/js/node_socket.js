// The one websocket of a node's console pages (ws/nodes/<node>/): a snapshot of the node's panel
// then deltas (what changed, nested, merged as dashboards/panels.py makes them), and
// the operator buttons' commands over the same socket. Reconnects with backoff and starts again
// from a snapshot; a close code >= 4400 is the server's refusal and is not retried.
//
// Used by node_live.js and node_risk.js; the pages provide #connection and #command-result.

const $ = (id) => document.getElementById(id);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

// The inverse of dashboards/panels.py panel_delta: objects merge key by key, anything else is
// replaced, and "-" lists the keys an object lost.
function mergeDelta(target, delta) {
  for (const [key, value] of Object.entries(delta)) {
    if (key === "-") {
      for (const gone of value) delete target[gone];
    } else if (isObject(value) && isObject(target[key])) {
      mergeDelta(target[key], value);
    } else {
      target[key] = value;
    }
  }
}

// nodeSocket(node, onPanel) -> {send(command) -> bool}. onPanel(panel, changed) is called with
// the merged panel after every frame; `changed` is null for a snapshot, else the delta's sections.
export function nodeSocket(node, onPanel) {
  let panel = null;
  let socket = null;
  let backoff = 500;

  function onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "snapshot") {
      panel = message.panel;
      onPanel(panel, null);
    } else if (message.type === "delta" && panel) {
      mergeDelta(panel, message.changed);
      onPanel(panel, message.changed);
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

  connect();
  return {
    send(command) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify({ action: "command", command }));
      return true;
    },
  };
}

// The operator buttons (button[data-command] inside `container`): confirm, then send.
export function bindCommandButtons(container, channel) {
  for (const button of container.querySelectorAll("button[data-command]")) {
    button.addEventListener("click", () => {
      if (!window.confirm(button.dataset.confirm)) return;
      if (!channel.send(button.dataset.command)) {
        $("command-result").textContent = "not connected: command not sent";
        return;
      }
      $("command-result").textContent = `${button.dataset.command}: sent…`;
    });
  }
}
