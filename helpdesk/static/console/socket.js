/* The console websocket (ws/console/, protocol in docs/live-chat.md): connect, reconnect, send. */

import { CFG, PING_MS } from "./config.js";
import { $, isObj } from "./dom.js";
import { state } from "./state.js";
import { toast } from "./alerts.js";

/* What to do with each frame, and after a reconnect; live.js provides them (console.js wires it). */
const handlers = { frame: function () {}, reopen: function () {} };

export function setSocketHandlers(frame, reopen) {
  handlers.frame = frame;
  handlers.reopen = reopen;
}

export const ws = { sock: null, attempts: 0, ping: null, retry: null, everOpen: false, denied: false };

function setConn(kind, text) {
  var node = $("conn-status");
  node.className = "conn conn-" + kind;
  node.querySelector(".conn-text").textContent = text;
}

export function wsSend(frame) {
  if (ws.sock && ws.sock.readyState === WebSocket.OPEN) {
    ws.sock.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

export function connect() {
  clearTimeout(ws.retry);
  if (ws.sock || ws.denied) return;
  var url = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + (CFG.websocket || "/ws/console/");
  var sock;
  try {
    sock = new WebSocket(url);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  ws.sock = sock;
  setConn("connecting", ws.everOpen ? "Reconnecting…" : "Connecting…");
  sock.addEventListener("open", function () {
    if (ws.sock !== sock) return;
    ws.attempts = 0;
    setConn("live", "Live");
    clearInterval(ws.ping);
    ws.ping = setInterval(function () {
      wsSend({ type: "ping" });
    }, PING_MS);
    if (state.selectedId) wsSend({ type: "watch", conversation: state.selectedId });
    if (ws.everOpen) handlers.reopen();
    ws.everOpen = true;
  });
  sock.addEventListener("message", function (e) {
    var frame;
    try {
      frame = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    if (isObj(frame)) handlers.frame(frame);
  });
  sock.addEventListener("close", function (e) {
    if (ws.sock !== sock) return;
    ws.sock = null;
    clearInterval(ws.ping);
    if (e.code === 4403) {
      ws.denied = true;
      setConn("down", "Signed out");
      toast("You are signed out", "Sign in again to keep receiving conversations.", {
        kind: "error",
        ttl: 600000,
        action: {
          label: "Sign in",
          run: function () {
            window.location.href = "/console/login/?next=" + encodeURIComponent("/console/" + window.location.hash);
          },
        },
      });
      return;
    }
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  clearTimeout(ws.retry);
  var base = Math.min(30000, 1000 * Math.pow(2, ws.attempts));
  var delay = Math.round(base * (0.6 + Math.random() * 0.4));
  ws.attempts += 1;
  setConn("down", "Offline · retrying in " + Math.max(1, Math.round(delay / 1000)) + "s");
  ws.retry = setTimeout(connect, delay);
}
