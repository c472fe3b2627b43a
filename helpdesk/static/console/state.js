/* The console's shared mutable state (one object, changed in place by the other modules)
 * and the queue-row summaries built from API answers and websocket frames. */

import { STATUS_RANK } from "./config.js";
import { isObj, str, first, toDate, convId } from "./dom.js";

export const state = {
  rows: new Map(), // id -> summary
  order: [], // ids, sorted
  next: null, // next page URL of the queue
  queueSeq: 0,
  selectedId: null,
  detail: null,
  detailSeq: 0,
  messages: new Map(), // id -> message of the open conversation
  unseen: new Set(), // escalations not yet opened
  unread: new Set(), // conversations with new customer messages
  highlight: new Set(),
  agents: [],
  online: [],
  mode: "reply",
  drafts: new Map(),
  live: null, // the streaming bot bubble {replyTo, node, textNode, statusNode, timer}
};

const SUMMARY_KEYS = [
  "id",
  "public_id",
  "status",
  "channel",
  "language",
  "customer",
  "subject",
  "last_message",
  "last_message_at",
  "ticket",
  "assigned_agent",
  "intent",
  "sentiment",
  "csat",
];

/* A queue row from a summary or a detail answer (the detail may nest the conversation). */
export function summaryFrom(data) {
  if (!isObj(data)) return null;
  var source = isObj(data.conversation) ? Object.assign({}, data, data.conversation) : data;
  var id = convId(source.id);
  if (!id) return null;
  var summary = {};
  SUMMARY_KEYS.forEach(function (key) {
    if (source[key] !== undefined) summary[key] = source[key];
  });
  summary.id = id;
  var cp = copilotOf(data);
  if (summary.intent === undefined || isObj(summary.intent)) {
    summary.intent = str(first(isObj(source.intent) ? source.intent.name : undefined, cp.intent && cp.intent.name, cp.intent));
  }
  if (summary.sentiment === undefined || isObj(summary.sentiment)) {
    summary.sentiment = str(first(isObj(source.sentiment) ? source.sentiment.current : undefined, cp.sentiment));
  }
  if (summary.last_message === undefined && Array.isArray(data.messages)) {
    var visible = data.messages.filter(function (m) {
      return m.role !== "note";
    });
    if (visible.length) summary.last_message = visible[visible.length - 1].content;
  }
  return summary;
}

export function customerName(summary) {
  var c = summary && summary.customer;
  return (isObj(c) && str(c.name)) || "Anonymous visitor";
}

export function sortQueue() {
  state.order = Array.from(state.rows.keys()).sort(function (a, b) {
    var ra = state.rows.get(a);
    var rb = state.rows.get(b);
    var rank = (STATUS_RANK[ra.status] !== undefined ? STATUS_RANK[ra.status] : 4) -
      (STATUS_RANK[rb.status] !== undefined ? STATUS_RANK[rb.status] : 4);
    if (rank) return rank;
    var ta = toDate(ra.last_message_at);
    var tb = toDate(rb.last_message_at);
    if (ta && tb && ta.getTime() !== tb.getTime()) return tb.getTime() - ta.getTime();
    if (ta && !tb) return -1;
    if (tb && !ta) return 1;
    return b - a;
  });
}

export function copilotOf(d) {
  if (!isObj(d)) return {};
  var cp = first(d.copilot, d.copilot_panel, d.panel, d.insights);
  return isObj(cp) ? cp : {};
}
