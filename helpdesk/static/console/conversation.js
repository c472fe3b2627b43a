/* Opening and closing a conversation (the #c=ID hash), its header and its detail. */

import { ME, CHANNEL_LABELS } from "./config.js";
import { $, el, append, isObj, str, first, humanize, paintAvatar, toDate, fullTime, clockTime, debounce } from "./dom.js";
import { api } from "./api.js";
import { state, summaryFrom, customerName } from "./state.js";
import { statusBadge, tierBadge, priorityBadge } from "./badges.js";
import { updateTitle, showConvError, hideConvError } from "./alerts.js";
import { wsSend } from "./socket.js";
import { renderQueue, updateRow, upsertRow } from "./queue.js";
import { loadMessages, clearLive, setTyping, transcriptCustomerName } from "./transcript.js";
import { setMode, typingStop, updateComposerHint } from "./composer.js";
import { renderCopilot } from "./copilot-panel.js";
import { renderFollowUp } from "./follow-up.js";

export function parseHash() {
  var m = /(?:^#|[#&])c=(\d+)/.exec(window.location.hash);
  return m ? parseInt(m[1], 10) : null;
}

export function selectConversation(id) {
  if (parseHash() === id) {
    openConversation(id);
  } else {
    window.location.hash = "c=" + id;
  }
}

function saveDraft() {
  if (state.selectedId) {
    var text = $("composer-text").value;
    if (text) state.drafts.set(state.selectedId, { text: text, mode: state.mode });
    else state.drafts.delete(state.selectedId);
  }
}

export function openConversation(id) {
  if (!id) {
    closeConversation();
    return;
  }
  var previous = state.selectedId;
  if (previous !== id) {
    typingStop();
    saveDraft();
    if (previous) wsSend({ type: "unwatch", conversation: previous });
    state.selectedId = id;
    state.detail = null;
    state.messages = new Map();
    state.messagesLoaded = false;
    state.truncated = false;
    renderFollowUp(null);
    clearLive();
    setTyping("customer", false);
    setTyping("agent", false);
    hideConvError();
    wsSend({ type: "watch", conversation: id });
    var draft = state.drafts.get(id);
    $("composer-text").value = draft ? draft.text : "";
    setMode(draft ? draft.mode : "reply");
  }
  state.unseen.delete(id);
  state.unread.delete(id);
  updateTitle();
  document.querySelectorAll('.toast[data-conversation="' + id + '"]').forEach(function (node) {
    node.remove();
  });
  $("conv-empty").hidden = true;
  $("conv").hidden = false;
  [previous, id].forEach(function (rid) {
    if (rid && state.rows.has(rid)) updateRow(rid);
  });
  var summary = state.rows.get(id);
  if (summary) renderHeader(summary);
  else {
    $("conv-title").textContent = "Loading…";
    $("conv-meta").textContent = "";
  }
  $("transcript").replaceChildren(el("p", { class: "transcript-loading" }, "Loading the conversation…"));
  $("copilot-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
  loadDetail(id);
  loadMessages(id);
}

function closeConversation() {
  typingStop();
  saveDraft();
  if (state.selectedId) wsSend({ type: "unwatch", conversation: state.selectedId });
  var previous = state.selectedId;
  state.selectedId = null;
  state.detail = null;
  if (previous && state.rows.has(previous)) updateRow(previous);
  renderFollowUp(null);
  $("conv").hidden = true;
  $("conv-empty").hidden = false;
  $("copilot-body").replaceChildren(
    el("p", { class: "muted" }, "The copilot's reading of the conversation and the customer's CRM record appear here."),
  );
}

export function loadDetail(id) {
  var seq = ++state.detailSeq;
  return api("GET", "conversations/" + id)
    .then(function (data) {
      if (seq !== state.detailSeq || id !== state.selectedId) return;
      applyDetail(data);
      var summary = summaryFrom(data);
      if (summary) {
        // Keep the row in step, even when the filters hide it.
        if (state.rows.has(id)) {
          state.rows.set(id, Object.assign({}, state.rows.get(id), summary));
          updateRow(id);
        }
      }
    })
    .catch(function (err) {
      if (seq !== state.detailSeq || id !== state.selectedId) return;
      $("conv-title").textContent = "Conversation #" + id;
      showConvError(err.message);
      $("copilot-body").replaceChildren(el("p", { class: "muted" }, "Nothing to show."));
    });
}

export const refreshDetailSoon = debounce(function () {
  if (state.selectedId) loadDetail(state.selectedId);
}, 400);

function applyDetail(data) {
  if (!isObj(data)) return;
  state.detail = data;
  var summary = summaryFrom(data) || state.rows.get(state.selectedId) || {};
  var header = Object.assign({}, state.rows.get(state.selectedId) || {}, summary);
  renderHeader(header, data);
  transcriptCustomerName(customerName(header));
  renderFollowUp(data, reloadDetail(state.selectedId));
  renderCopilot(data);
}

function reloadDetail(id) {
  return function () {
    if (id === state.selectedId) loadDetail(id);
  };
}

export function renderHeader(summary, detail) {
  var name = customerName(summary);
  paintAvatar($("conv-avatar"), name);
  var title = $("conv-title");
  // replaceChildren() would print a null child as "null": build the children with append().
  title.replaceChildren();
  append(title, [el("span", null, name), tierBadge(isObj(summary.customer) ? summary.customer.tier : ""), statusBadge(summary.status)]);
  var ticket = isObj(summary.ticket) ? summary.ticket : null;
  var detailTicket = detail && isObj(detail.ticket) ? detail.ticket : null;
  var meta = [];
  if (ticket) meta.push(el("span", { class: "ref" }, str(ticket.reference)), priorityBadge(ticket.priority));
  var sla = detailTicket && first(detailTicket.sla_due_at, detailTicket.sla_due);
  if (sla) {
    var due = toDate(sla);
    var overdue = due && due.getTime() < Date.now();
    meta.push(el("span", { class: "sla" + (overdue ? " is-overdue" : ""), title: fullTime(sla) }, (overdue ? "SLA overdue · " : "SLA ") + clockTime(sla)));
  }
  var agent = isObj(summary.assigned_agent) ? summary.assigned_agent : null;
  meta.push(el("span", null, agent ? "Assigned to " + (agent.username === ME.username ? "you" : str(agent.name)) : "Unassigned"));
  if (summary.channel) meta.push(el("span", null, CHANNEL_LABELS[summary.channel] || humanize(summary.channel)));
  if (summary.language) meta.push(el("span", { class: "lang" }, str(summary.language).toUpperCase()));
  if (summary.csat) meta.push(el("span", { class: "csat csat-" + str(summary.csat) }, summary.csat === "up" ? "Rated: good" : "Rated: poor"));
  var metaNode = $("conv-meta");
  metaNode.replaceChildren();
  meta.forEach(function (m, i) {
    if (!m) return;
    if (i && metaNode.childNodes.length) metaNode.appendChild(el("span", { class: "sep", "aria-hidden": "true" }, "·"));
    metaNode.appendChild(m);
  });
  renderActions(summary);
  updateComposerHint(summary);
}

function renderActions(summary) {
  var status = summary.status;
  var agent = isObj(summary.assigned_agent) ? summary.assigned_agent : null;
  var mine = agent && agent.username === ME.username;
  var take = $("act-take");
  // Another agent's live chat cannot be taken (the server answers 409); "Assign" hands it over.
  take.hidden = status === "resolved" || status === "human";
  // Only the owner may hand back (the server answers 409 to anyone else).
  $("act-handback").hidden = status !== "human" || !mine;
  $("act-resolve").hidden = status === "resolved";
  var assignWrap = document.querySelector(".assign");
  assignWrap.hidden = status === "resolved";
  var select = $("act-assign-select");
  if (agent && document.activeElement !== select) select.value = str(agent.username);
}

/* Fetch one conversation's row; calls for the same id within a moment share one request. */
const rowFetches = new Map();

export function fetchRow(id, opts) {
  opts = opts || {};
  var pending = rowFetches.get(id);
  if (pending) {
    pending.highlight = pending.highlight || !!opts.highlight;
    return pending.promise;
  }
  var entry = { highlight: !!opts.highlight };
  entry.promise = new Promise(function (resolve) {
    setTimeout(resolve, 120);
  })
    .then(function () {
      return api("GET", "conversations/" + id);
    })
    .then(function (data) {
      var summary = summaryFrom(data);
      if (summary) upsertRow(summary, { highlight: entry.highlight });
      if (id === state.selectedId && data) applyDetail(data);
      return summary;
    })
    .catch(function (err) {
      if (err && err.status === 404 && state.rows.has(id)) {
        state.rows.delete(id);
        renderQueue();
      }
    })
    .finally(function () {
      rowFetches.delete(id);
    });
  rowFetches.set(id, entry);
  return entry.promise;
}
