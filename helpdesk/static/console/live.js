/* Live updates: what each console-websocket frame does (protocol in docs/live-chat.md). */

import { ME } from "./config.js";
import { $, isObj, str, list, first, humanize, convId } from "./dom.js";
import { state, summaryFrom, customerName } from "./state.js";
import { updateTitle, beep, toast } from "./alerts.js";
import { loadQueue, upsertRow } from "./queue.js";
import { loadMessages, nearBottom, scrollDown, addMessage, liveBubble, clearLive, setTyping } from "./transcript.js";
import { renderPresence } from "./agents.js";
import { selectConversation, loadDetail, refreshDetailSoon, fetchRow } from "./conversation.js";

/* After a reconnect: what happened while the socket was down. */
export function resync() {
  loadQueue(false);
  if (state.selectedId) {
    loadDetail(state.selectedId);
    loadMessages(state.selectedId);
  }
}

export function dispatch(f) {
  switch (f.type) {
    case "escalation":
      onEscalation(f);
      break;
    case "queue":
      onQueue(f);
      break;
    case "message":
      onMessage(f);
      break;
    case "presence":
      renderPresence(list(f.agents));
      break;
    case "token":
      onToken(f);
      break;
    case "status":
      onStatus(f);
      break;
    case "reply_done":
      onReplyDone(f);
      break;
    case "typing":
      onTyping(f);
      break;
    case "csat":
      onCsat(f);
      break;
    case "error":
      if (f.code && f.code !== "not_found") window.console.warn("console socket:", f.code, f.detail);
      break;
    default:
      break;
  }
}

function onEscalation(f) {
  var id = convId(f.conversation);
  if (!id) return;
  var seenNow = id === state.selectedId && document.visibilityState === "visible";
  if (!seenNow) state.unseen.add(id);
  updateTitle();
  beep();
  var summary = isObj(f.conversation) ? summaryFrom(f.conversation) : null;
  if (summary && isObj(f.ticket) && !summary.ticket) summary.ticket = f.ticket;
  if (summary) upsertRow(summary, { highlight: true });
  else if (state.rows.has(id)) {
    var row = Object.assign({}, state.rows.get(id));
    if (isObj(f.ticket)) row.ticket = Object.assign({}, row.ticket || {}, f.ticket);
    if (row.status === "bot") row.status = "pending_human";
    upsertRow(row, { highlight: true });
  }
  fetchRow(id, { highlight: true }).then(function (s) {
    s = s || state.rows.get(id) || summary;
    if (seenNow) return;
    var ticket = isObj(f.ticket) ? f.ticket : s && s.ticket;
    var text = (s ? customerName(s) : "Conversation #" + id) + (ticket && ticket.reference ? " · " + ticket.reference : "") +
      (ticket && ticket.priority ? " (" + ticket.priority + ")" : "");
    if (id === state.selectedId && document.visibilityState === "visible") return;
    toast("New escalation", text, {
      kind: "escalation",
      conversation: id,
      action: {
        label: "Open",
        run: function () {
          selectConversation(id);
        },
      },
    });
  });
}

function onQueue(f) {
  var id = convId(f.conversation);
  if (!id) return;
  if (isObj(f.conversation) && f.conversation.status) {
    upsertRow(summaryFrom(f.conversation));
  } else if (state.rows.has(id)) {
    var patch = Object.assign({}, state.rows.get(id));
    if (f.status) patch.status = f.status;
    if (f.assigned_agent !== undefined) patch.assigned_agent = f.assigned_agent;
    upsertRow(patch);
  }
  // fetchRow also refreshes the open conversation's header and copilot panel.
  fetchRow(id);
}

function onMessage(f) {
  var m = isObj(f.message) ? f.message : null;
  var id = convId(first(f.conversation, m && m.conversation));
  if (!id || !m) return;
  if (m.role !== "note") {
    var row = state.rows.get(id);
    if (row) {
      var patch = Object.assign({}, row, { last_message: str(m.content).slice(0, 200), last_message_at: m.created_at || row.last_message_at });
      if (m.role === "customer" && id !== state.selectedId) state.unread.add(id);
      upsertRow(patch);
    } else {
      if (m.role === "customer" && id !== state.selectedId) state.unread.add(id);
      fetchRow(id);
    }
  }
  if (id === state.selectedId) {
    addMessage(m);
    if (m.role === "assistant" || m.role === "customer") refreshDetailSoon();
  }
}

function onCsat(f) {
  var id = convId(f.conversation);
  if (!id) return;
  if (state.rows.has(id)) upsertRow(Object.assign({}, state.rows.get(id), { csat: f.rating }));
  if (id === state.selectedId) refreshDetailSoon();
  var s = state.rows.get(id);
  toast(f.rating === "up" ? "Positive rating" : "Negative rating", (s ? customerName(s) : "Conversation #" + id) + (f.comment ? ": “" + str(f.comment) + "”" : ""), { ttl: 6000 });
}

// --- in the open conversation: the bot's streamed answer, typing

function onToken(f) {
  if (convId(f.conversation) !== state.selectedId || typeof f.delta !== "string") return;
  var live = liveBubble(f.reply_to);
  live.statusNode.textContent = "";
  live.statusNode.hidden = true;
  var transcript = $("transcript");
  var pinned = nearBottom(transcript);
  live.textNode.textContent += f.delta;
  if (pinned) scrollDown(true);
}

function onStatus(f) {
  if (convId(f.conversation) !== state.selectedId) return;
  var live = liveBubble(f.reply_to);
  if (!live.textNode.textContent) {
    live.statusNode.hidden = false;
    live.statusNode.textContent = str(f.text) || humanize(str(f.key).replace(/^status_/, ""));
  }
}

function onReplyDone(f) {
  if (convId(f.conversation) !== state.selectedId) return;
  refreshDetailSoon();
  if (!state.live) return;
  // The stored reply arrives as a message frame (maybe just after this one): wait for it.
  var live = state.live;
  live.timer = setTimeout(function () {
    if (state.live === live) {
      clearLive();
      if (state.selectedId) loadMessages(state.selectedId);
    }
  }, 4000);
}

function onTyping(f) {
  if (convId(f.conversation) !== state.selectedId) return;
  if (f.role === "customer") {
    var s = state.rows.get(state.selectedId);
    var name = s && isObj(s.customer) ? str(s.customer.name).split(" ")[0] : "";
    setTyping("customer", !!f.active, name ? name : null);
  } else if (f.role === "agent" && f.username !== ME.username) {
    setTyping("agent", !!f.active, str(f.name) || null);
  }
}
