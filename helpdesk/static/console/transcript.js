/* The open conversation's transcript: messages, the bot's streamed answer, typing indicators. */

import { $, el, safeUrl, isObj, str, list, first, avatar, paintAvatar, toDate, clockTime, fullTime, timeEl } from "./dom.js";
import { api } from "./api.js";
import { state, summaryFrom, customerName } from "./state.js";

export function loadMessages(id) {
  return api("GET", "conversations/" + id + "/messages")
    .then(function (data) {
      if (id !== state.selectedId) return;
      var items = list(isObj(data) && Array.isArray(data.messages) ? data.messages : data);
      items.forEach(function (m) {
        if (isObj(m) && m.id !== undefined) state.messages.set(m.id, m);
      });
      state.truncated = !!(isObj(data) && data.truncated);
      state.messagesLoaded = true;
      renderTranscript();
    })
    .catch(function (err) {
      if (id !== state.selectedId) return;
      state.messagesLoaded = true;
      $("transcript").replaceChildren(el("p", { class: "transcript-loading is-error" }, "Could not load the messages: " + err.message));
    });
}

function sortedMessages() {
  return Array.from(state.messages.values()).sort(function (a, b) {
    return (a.id || 0) - (b.id || 0);
  });
}

export function nearBottom(node) {
  return node.scrollHeight - node.scrollTop - node.clientHeight < 120;
}

export function scrollDown(force) {
  var node = $("transcript");
  if (force || node.dataset.pinned !== "false") node.scrollTop = node.scrollHeight;
}

function renderTranscript() {
  var node = $("transcript");
  var items = sortedMessages();
  var children = [];
  var lastDay = "";
  if (state.truncated) children.push(el("p", { class: "transcript-note" }, "Older messages are not shown."));
  items.forEach(function (m) {
    var day = toDate(m.created_at) ? toDate(m.created_at).toDateString() : "";
    if (day && day !== lastDay) {
      children.push(el("div", { class: "day-sep" }, el("span", null, dayLabel(m.created_at))));
      lastDay = day;
    }
    children.push(renderMessage(m));
  });
  if (!items.length) children.push(el("p", { class: "transcript-loading" }, "No messages yet."));
  node.replaceChildren.apply(node, children);
  node.dataset.lastDay = lastDay;
  if (state.live) node.appendChild(state.live.node);
  node.dataset.pinned = "true";
  scrollDown(true);
}

/* The messages can load before the conversation's detail, which names a customer whose row is
 * not in the queue (filtered out, or older than its page): name them once it has come. */
export function transcriptCustomerName(name) {
  $("transcript")
    .querySelectorAll(".msg-customer")
    .forEach(function (node) {
      var author = node.querySelector(".msg-author");
      if (!author || author.textContent === name) return;
      author.textContent = name;
      var badge = node.querySelector(".msg-avatar");
      if (badge) paintAvatar(badge, name);
    });
}

function dayLabel(iso) {
  var d = toDate(iso);
  if (!d) return "";
  var today = new Date();
  var yesterday = new Date(Date.now() - 86400000);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
}

function authorOf(m) {
  var author = m.author;
  if (isObj(author)) author = first(author.name, author.username);
  return str(author);
}

function renderMessage(m) {
  var role = str(m.role) || "system";
  var text = str(m.content);
  if (role === "system") {
    return el(
      "div",
      { class: "msg msg-system", dataset: { id: String(m.id) } },
      el("span", { class: "system-text" }, text),
      el("span", { class: "system-time" }, clockTime(m.created_at)),
    );
  }
  var who;
  if (role === "customer") who = customerName(state.rows.get(state.selectedId) || summaryFrom(state.detail) || {});
  else if (role === "assistant") who = "Copilot";
  else if (role === "note") who = "Internal note" + (authorOf(m) ? " · " + authorOf(m) : "");
  else who = authorOf(m) || "Agent";

  var side = role === "customer" ? "left" : "right";
  var citations = Array.isArray(m.citations) ? m.citations : [];
  var meta = el(
    "div",
    { class: "msg-meta" },
    el("span", { class: "msg-author" }, who),
    role === "agent" ? el("span", { class: "role-tag" }, "Agent") : null,
    role === "assistant" ? el("span", { class: "role-tag role-bot" }, "Bot") : null,
    timeEl(m.created_at, "msg-time", clockTime),
    role === "agent" && m.emailed_at ? emailedTag(m) : null,
  );
  var body = el("div", { class: "msg-body" }, text);
  var sources = null;
  if (citations.length) {
    sources = el(
      "ol",
      { class: "msg-sources", "aria-label": "Sources" },
      citations.map(function (c) {
        if (!isObj(c)) return null;
        var href = safeUrl(str(c.url));
        var label = (c.n !== undefined && c.n !== null ? "[" + c.n + "] " : "") + (str(c.title) || str(c.url));
        return el("li", null, href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, label) : label);
      }),
    );
  }
  var flags = m.offer_human ? el("div", { class: "msg-flag" }, "Offered a human") : null;
  return el(
    "div",
    { class: "msg msg-" + role + " msg-" + side, dataset: { id: String(m.id) } },
    role !== "customer" ? null : avatar(who, "avatar-sm msg-avatar"),
    el("div", { class: "msg-col" }, meta, el("div", { class: "bubble" }, body, sources), flags),
  );
}

/* An agent reply also sent to the customer by email (an email follow-up). */
function emailedTag(m) {
  return el(
    "span",
    { class: "emailed-tag", title: "Also emailed to the customer · " + fullTime(m.emailed_at) },
    el("span", { "aria-hidden": "true" }, "✉ "),
    "Emailed",
  );
}

/* Fresh copies of the transcript's messages: mark the agent replies emailed since they were shown. */
export function markEmailed(fresh) {
  fresh.forEach(function (m) {
    if (!isObj(m) || typeof m.id !== "number" || !m.emailed_at) return;
    var known = state.messages.get(m.id);
    if (!known || known.emailed_at) return;
    known.emailed_at = m.emailed_at;
    var meta = $("transcript").querySelector('.msg[data-id="' + m.id + '"] .msg-meta');
    if (meta && known.role === "agent" && !meta.querySelector(".emailed-tag")) meta.appendChild(emailedTag(known));
  });
}

export function addMessage(m) {
  if (!isObj(m) || m.id === undefined || m.id === null) return;
  if (state.messages.has(m.id)) return;
  state.messages.set(m.id, m);
  // Still loading the transcript: the full render will include this one.
  if (!state.messagesLoaded) return;
  var node = $("transcript");
  var pinned = nearBottom(node);
  var placeholder = node.querySelector(".transcript-loading");
  if (placeholder) placeholder.remove();
  if (m.role === "assistant") clearLive();
  // Out of order (an older id than the last shown)? Re-render; otherwise append.
  var ids = Array.from(state.messages.keys());
  var maxOther = Math.max.apply(
    null,
    ids
      .filter(function (i) {
        return i !== m.id;
      })
      .concat([0]),
  );
  if (m.id < maxOther) {
    renderTranscript();
    return;
  }
  var day = toDate(m.created_at) ? toDate(m.created_at).toDateString() : "";
  var live = state.live ? state.live.node : null;
  if (day && day !== node.dataset.lastDay) {
    node.insertBefore(el("div", { class: "day-sep" }, el("span", null, dayLabel(m.created_at))), live);
    node.dataset.lastDay = day;
  }
  node.insertBefore(renderMessage(m), live);
  if (m.role === "customer") setTyping("customer", false);
  if (pinned || m.role === "agent" || m.role === "note") scrollDown(true);
}

// --- the bot's streamed answer

export function liveBubble(replyTo) {
  if (state.live && state.live.replyTo === replyTo) return state.live;
  clearLive();
  var textNode = el("div", { class: "msg-body" });
  var statusNode = el("div", { class: "live-status", role: "status" });
  var node = el(
    "div",
    { class: "msg msg-assistant msg-right is-live", "aria-busy": "true" },
    el(
      "div",
      { class: "msg-col" },
      el("div", { class: "msg-meta" }, el("span", { class: "msg-author" }, "Copilot"), el("span", { class: "role-tag role-bot" }, "Bot"), el("span", { class: "live-tag" }, "Writing…")),
      el("div", { class: "bubble" }, statusNode, textNode, el("span", { class: "caret", "aria-hidden": "true" })),
    ),
  );
  state.live = { replyTo: replyTo, node: node, textNode: textNode, statusNode: statusNode, timer: null };
  var transcript = $("transcript");
  var pinned = nearBottom(transcript);
  transcript.appendChild(node);
  if (pinned) scrollDown(true);
  return state.live;
}

export function clearLive() {
  if (!state.live) return;
  clearTimeout(state.live.timer);
  state.live.node.remove();
  state.live = null;
}

// --- typing indicators

const typingTimers = {};
const typingWho = { customer: false, agent: false };

export function setTyping(role, active, name) {
  clearTimeout(typingTimers[role]);
  typingWho[role] = active ? name || true : false;
  if (active) {
    typingTimers[role] = setTimeout(function () {
      setTyping(role, false);
    }, 8000);
  }
  var node = $("typing-indicator");
  var parts = [];
  if (typingWho.customer) parts.push(typeof typingWho.customer === "string" ? typingWho.customer + " is typing…" : "Customer is typing…");
  if (typingWho.agent) parts.push((typeof typingWho.agent === "string" ? typingWho.agent : "Another agent") + " is typing…");
  node.replaceChildren();
  if (parts.length) {
    node.appendChild(el("span", { class: "dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")));
    node.appendChild(el("span", null, parts.join(" · ")));
  }
}
