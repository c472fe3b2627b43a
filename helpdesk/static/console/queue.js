/* The inbox: filters, loading pages of conversations, rendering and updating the rows. */

import { ME, API, STATUS_LABELS } from "./config.js";
import { $, el, isObj, str, list, humanize, avatar, timeEl, debounce, convId } from "./dom.js";
import { api } from "./api.js";
import { state, summaryFrom, customerName, sortQueue } from "./state.js";
import { statusBadge, tierBadge, priorityBadge, sentimentChip } from "./badges.js";

export const filters = {
  status: $("f-status"),
  priority: $("f-priority"),
  mine: $("f-mine"),
  search: $("f-search"),
};

function queueQuery() {
  var params = new URLSearchParams();
  if (filters.status.value) params.set("status", filters.status.value);
  if (filters.priority.value) params.set("priority", filters.priority.value);
  if (filters.mine.checked) params.set("mine", "1");
  var search = filters.search.value.trim();
  if (search) params.set("search", search);
  var q = params.toString();
  return "conversations" + (q ? "?" + q : "");
}

/* Whether a live update belongs in the list under the current filters. */
function matchesFilters(summary) {
  if (filters.status.value && summary.status !== filters.status.value) return false;
  if (filters.priority.value) {
    var t = summary.ticket;
    if (!isObj(t) || t.priority !== filters.priority.value) return false;
  }
  if (filters.mine.checked) {
    var a = summary.assigned_agent;
    if (!isObj(a) || a.username !== ME.username) return false;
  }
  var search = filters.search.value.trim().toLowerCase();
  if (search) {
    var c = isObj(summary.customer) ? summary.customer : {};
    var hay = [c.name, c.email, c.external_id, summary.subject].map(str).join(" ").toLowerCase();
    if (hay.indexOf(search) === -1) return false;
  }
  return true;
}

export function loadQueue(more) {
  var seq = ++state.queueSeq;
  var path = queueQuery();
  if (more && state.next) {
    // The API's absolute "next" URL; keep only its path and query, same origin.
    try {
      var u = new URL(state.next, window.location.origin);
      path = u.pathname.replace(new RegExp("^" + API.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "") + u.search;
    } catch (e) {
      return;
    }
  }
  setQueueStatus(more ? "Loading more…" : "Loading conversations…");
  $("queue-more").disabled = true;
  return api("GET", path)
    .then(function (data) {
      if (seq !== state.queueSeq) return;
      if (!more) state.rows.clear();
      list(data).forEach(function (item) {
        var s = summaryFrom(item);
        if (s) state.rows.set(s.id, s);
      });
      state.next = isObj(data) && data.next ? data.next : null;
      var total = isObj(data) && typeof data.count === "number" ? data.count : state.rows.size;
      renderQueue(total);
    })
    .catch(function (err) {
      if (seq !== state.queueSeq) return;
      setQueueStatus("Could not load the queue: " + err.message, true);
    })
    .finally(function () {
      $("queue-more").disabled = false;
    });
}

let queueTotal = null;

function setQueueStatus(text, isError) {
  var node = $("queue-status");
  node.textContent = text || "";
  node.hidden = !text;
  node.classList.toggle("is-error", !!isError);
}

const rowNodes = new Map();

export function renderQueue(total) {
  if (typeof total === "number") queueTotal = total;
  sortQueue();
  var listNode = $("queue-list");
  var focusedId = null;
  if (listNode.contains(document.activeElement) && document.activeElement.dataset) {
    focusedId = convId(document.activeElement.dataset.id);
  }
  var nodes = state.order.map(function (id) {
    var node = rowNodes.get(id);
    if (!node) {
      node = renderRow(state.rows.get(id));
      rowNodes.set(id, node);
    }
    return node;
  });
  // Drop cached nodes for rows that left the list.
  Array.from(rowNodes.keys()).forEach(function (id) {
    if (!state.rows.has(id)) rowNodes.delete(id);
  });
  var current = Array.from(listNode.children);
  var same = current.length === nodes.length && current.every(function (n, i) {
    return n === nodes[i];
  });
  if (!same) listNode.replaceChildren.apply(listNode, nodes);
  if (focusedId && rowNodes.get(focusedId)) {
    var button = rowNodes.get(focusedId).querySelector(".row");
    if (button && document.activeElement !== button) button.focus({ preventScroll: true });
  }
  var shown = state.order.length;
  var count = queueTotal !== null ? Math.max(queueTotal, shown) : shown;
  $("queue-count").textContent = count ? String(count) : "";
  $("queue-more").hidden = !state.next;
  setQueueStatus(shown ? "" : "No conversations match these filters.");
}

export function updateRow(id) {
  var summary = state.rows.get(id);
  var old = rowNodes.get(id);
  if (!summary) return;
  var node = renderRow(summary);
  rowNodes.set(id, node);
  if (old && old.parentNode) {
    var hadFocus = old.contains(document.activeElement);
    old.parentNode.replaceChild(node, old);
    if (hadFocus) node.querySelector(".row").focus({ preventScroll: true });
  }
}

function renderRow(s) {
  var id = s.id;
  var name = customerName(s);
  var ticket = isObj(s.ticket) ? s.ticket : null;
  var agent = isObj(s.assigned_agent) ? s.assigned_agent : null;
  var selected = id === state.selectedId;
  var classes = ["row", "status-" + str(s.status)];
  if (selected) classes.push("is-selected");
  if (state.unseen.has(id)) classes.push("is-new");
  if (state.highlight.has(id)) classes.push("is-flash");
  if (state.unread.has(id)) classes.push("is-unread");

  var label = name + ", " + (STATUS_LABELS[s.status] || s.status || "");
  if (ticket) label += ", " + str(ticket.reference) + " " + str(ticket.priority);
  if (state.unseen.has(id)) label += ", new escalation";
  else if (state.unread.has(id)) label += ", new messages";

  // A link to the conversation's hash: opening it is navigation (and it can open in a new tab).
  var button = el(
    "a",
    {
      href: "#c=" + id,
      class: classes.join(" "),
      "aria-current": selected ? "true" : null,
      "aria-label": label,
      dataset: { id: String(id), conversationId: String(id) },
    },
    el(
      "div",
      { class: "row-top" },
      avatar(name),
      el("span", { class: "row-name" }, name),
      tierBadge(isObj(s.customer) ? s.customer.tier : ""),
      el("span", { class: "row-spacer" }),
      state.unseen.has(id) ? el("span", { class: "new-pill" }, "New") : null,
      state.unread.has(id) && !state.unseen.has(id) ? el("span", { class: "unread-dot", title: "New messages" }) : null,
      timeEl(s.last_message_at, "row-time"),
    ),
    el(
      "div",
      { class: "row-mid" },
      statusBadge(s.status),
      ticket ? el("span", { class: "ref" }, str(ticket.reference)) : null,
      ticket ? priorityBadge(ticket.priority) : null,
    ),
    el("div", { class: "row-snippet" }, str(s.last_message) || str(s.subject) || "No messages yet"),
    el(
      "div",
      { class: "row-foot" },
      s.intent ? el("span", { class: "chip intent" }, humanize(s.intent)) : null,
      sentimentChip(s.sentiment),
      el("span", { class: "row-spacer" }),
      agent
        ? el("span", { class: "row-agent", title: "Assigned to " + str(agent.name) }, avatar(agent.name, "avatar-xs"), str(agent.name).split(" ")[0])
        : el("span", { class: "row-agent is-none" }, "Unassigned"),
    ),
  );
  return el("li", { class: "row-item" }, button);
}

/* Add or replace a row from fresh data; it leaves the list if it no longer matches. */
export function upsertRow(summary, opts) {
  opts = opts || {};
  if (!summary) return;
  var id = summary.id;
  var previous = state.rows.get(id);
  var merged = Object.assign({}, previous || {}, summary);
  if (!matchesFilters(merged) && id !== state.selectedId) {
    if (previous) {
      state.rows.delete(id);
      if (queueTotal) queueTotal -= 1;
      renderQueue();
    }
    return;
  }
  if (!previous && !matchesFilters(merged)) return;
  state.rows.set(id, merged);
  if (!previous && queueTotal !== null) queueTotal += 1;
  if (opts.highlight) flash(id);
  rowNodes.delete(id);
  renderQueue();
}

function flash(id) {
  state.highlight.add(id);
  setTimeout(function () {
    state.highlight.delete(id);
    var node = rowNodes.get(id);
    if (node) node.querySelector(".row").classList.remove("is-flash");
  }, 2600);
}

export function initFilters() {
  var reload = function () {
    loadQueue(false);
  };
  filters.status.addEventListener("change", reload);
  filters.priority.addEventListener("change", reload);
  filters.mine.addEventListener("change", reload);
  filters.search.addEventListener("input", debounce(reload, 300));
  $("queue-filters").addEventListener("submit", function (e) {
    e.preventDefault();
    reload();
  });
  $("queue-more").addEventListener("click", function () {
    loadQueue(true);
  });
}
