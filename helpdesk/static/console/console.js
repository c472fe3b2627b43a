/* Support Copilot agent console.
 *
 * Vanilla JS, no build step. Talks to the agent REST API (/api/conversations…) and the
 * console websocket (ws/console/); the protocol is docs/live-chat.md.
 *
 * Security: every piece of data reaches the DOM through textContent or setAttribute on
 * safe attributes; links are limited to http(s) and same-origin paths. No innerHTML.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("console-config");
  if (!configNode) return;
  var CFG = JSON.parse(configNode.textContent);
  var ME = CFG.user || {};
  var API = CFG.api || "/api/";
  var PING_MS = (CFG.ping_seconds || 25) * 1000;
  var BASE_TITLE = document.title;

  var STATUS_LABELS = {
    bot: "Bot",
    pending_human: "Waiting",
    human: "With agent",
    resolved: "Resolved",
  };
  var CHANNEL_LABELS = { widget: "Widget", email: "E-mail", api: "API", cli: "CLI" };
  var TIER_LABELS = { vip: "VIP", gold: "Gold", standard: "Standard" };
  var STATUS_RANK = { pending_human: 0, human: 1, bot: 2, resolved: 3 };
  var ROLE_LABELS = { customer: "Customer", assistant: "Copilot", agent: "Agent", system: "System", note: "Internal note" };
  var SENTIMENTS = ["positive", "neutral", "negative", "frustrated", "angry"];

  // ------------------------------------------------------------------ small helpers

  function $(id) {
    return document.getElementById(id);
  }

  /* el("div", {class: "x", title: t}, child, "text", [children]) — strings become text nodes. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key.slice(0, 2) === "on" && typeof value === "function") node.addEventListener(key.slice(2), value);
        else if (key === "href") {
          var safe = safeUrl(value);
          if (safe) node.setAttribute("href", safe);
        } else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) {
        append(node, c);
      });
    } else if (typeof child === "string" || typeof child === "number") {
      node.appendChild(document.createTextNode(String(child)));
    } else {
      node.appendChild(child);
    }
  }

  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value, window.location.href);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href;
    } catch (e) {
      /* not a URL */
    }
    return null;
  }

  function isObj(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function str(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return "";
  }

  function list(value) {
    if (Array.isArray(value)) return value;
    if (isObj(value) && Array.isArray(value.results)) return value.results;
    return [];
  }

  /* The first argument that is not null/undefined/"" (arrays: not empty). */
  function first() {
    for (var i = 0; i < arguments.length; i++) {
      var v = arguments[i];
      if (v === null || v === undefined || v === "") continue;
      if (Array.isArray(v) && !v.length) continue;
      return v;
    }
    return undefined;
  }

  function humanize(value) {
    var s = str(value).replace(/[_-]+/g, " ").trim();
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : "";
  }

  function initials(name) {
    var parts = str(name).trim().split(/\s+/).filter(Boolean);
    if (!parts.length) return "?";
    var letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : parts[0].slice(0, 2);
    return letters.toUpperCase();
  }

  function hue(name) {
    var h = 0;
    var s = str(name);
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) % 360;
    return h;
  }

  function avatar(name, extraClass) {
    var node = el("span", { class: "avatar" + (extraClass ? " " + extraClass : ""), "aria-hidden": "true" });
    paintAvatar(node, name);
    return node;
  }

  function paintAvatar(node, name) {
    node.textContent = initials(name);
    node.style.backgroundColor = "hsl(" + hue(name) + ", 55%, 88%)";
    node.style.color = "hsl(" + hue(name) + ", 45%, 28%)";
  }

  function toDate(iso) {
    if (!iso) return null;
    var d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }

  function relTime(iso) {
    var d = toDate(iso);
    if (!d) return "";
    var s = Math.round((Date.now() - d.getTime()) / 1000);
    if (s < 45) return "now";
    if (s < 3600) return Math.max(1, Math.round(s / 60)) + "m";
    if (s < 86400) return Math.round(s / 3600) + "h";
    if (s < 7 * 86400) return Math.round(s / 86400) + "d";
    return d.toLocaleDateString(undefined, { day: "numeric", month: "short" });
  }

  function fullTime(iso) {
    var d = toDate(iso);
    return d ? d.toLocaleString() : "";
  }

  function clockTime(iso) {
    var d = toDate(iso);
    return d ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function timeEl(iso, cls, formatter) {
    var node = el("time", { class: cls || "", datetime: iso || "", title: fullTime(iso) });
    node.dataset.ts = iso || "";
    if (formatter) node.dataset.fmt = "clock";
    node.textContent = formatter ? formatter(iso) : relTime(iso);
    return node;
  }

  function refreshTimes() {
    document.querySelectorAll("time[data-ts]").forEach(function (node) {
      if (node.dataset.fmt === "clock" || !node.dataset.ts) return;
      node.textContent = relTime(node.dataset.ts);
    });
  }

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return cookie("csrftoken") || (field ? field.value : "");
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fn.apply(null, args);
      }, ms);
    };
  }

  function convId(value) {
    if (isObj(value)) value = value.id;
    var n = typeof value === "number" ? value : parseInt(value, 10);
    return n > 0 ? n : null;
  }

  // ------------------------------------------------------------------ REST

  function ApiError(status, message, data) {
    this.status = status;
    this.message = message;
    this.data = data;
  }

  function errorMessage(status, data) {
    if (isObj(data)) {
      if (typeof data.detail === "string" && data.detail) return data.detail;
      var keys = Object.keys(data);
      for (var i = 0; i < keys.length; i++) {
        var v = data[keys[i]];
        if (typeof v === "string" && v) return v;
        if (Array.isArray(v) && typeof v[0] === "string") return v[0];
      }
    }
    if (status === 401 || status === 403) return "Your session has ended or you may not do this. Sign in again.";
    if (status === 404) return "Not found: the conversation may have been deleted.";
    if (status === 409) return "Someone else changed this conversation first.";
    if (status === 429) return "Too many requests; wait a moment.";
    if (status >= 500) return "The server had a problem (" + status + "). Try again.";
    if (!status) return "Cannot reach the server. Check the connection.";
    return "The request failed (" + status + ").";
  }

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    var opts = { method: method, credentials: "same-origin", headers: headers };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(API + path, opts).then(
      function (res) {
        return res.text().then(function (text) {
          var data = null;
          if (text) {
            try {
              data = JSON.parse(text);
            } catch (e) {
              data = null;
            }
          }
          if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, data), data);
          if (res.redirected && /\/login\//.test(res.url)) throw new ApiError(401, errorMessage(401, null), null);
          return data;
        });
      },
      function () {
        throw new ApiError(0, errorMessage(0, null), null);
      },
    );
  }

  // ------------------------------------------------------------------ state

  var state = {
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

  // ------------------------------------------------------------------ summaries

  var SUMMARY_KEYS = [
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
  function summaryFrom(data) {
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

  function customerName(summary) {
    var c = summary && summary.customer;
    return (isObj(c) && str(c.name)) || "Anonymous visitor";
  }

  function sortQueue() {
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

  // ------------------------------------------------------------------ queue filters

  var filters = {
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

  function loadQueue(more) {
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

  var queueTotal = null;

  function setQueueStatus(text, isError) {
    var node = $("queue-status");
    node.textContent = text || "";
    node.hidden = !text;
    node.classList.toggle("is-error", !!isError);
  }

  // ------------------------------------------------------------------ queue rendering

  var rowNodes = new Map();

  function renderQueue(total) {
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

  function updateRow(id) {
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

  function statusBadge(status) {
    return el("span", { class: "badge status-" + str(status) }, STATUS_LABELS[status] || humanize(status) || "—");
  }

  function tierBadge(tier) {
    if (!tier) return null;
    var key = str(tier).toLowerCase();
    return el("span", { class: "tier tier-" + key, title: "Customer tier" }, TIER_LABELS[key] || humanize(tier));
  }

  function priorityBadge(priority) {
    if (!priority) return null;
    return el("span", { class: "prio prio-" + str(priority) }, humanize(priority));
  }

  function sentimentChip(sentiment) {
    if (!sentiment) return null;
    return el("span", { class: "chip sentiment sentiment-" + str(sentiment) }, el("span", { class: "sdot", "aria-hidden": "true" }), humanize(sentiment));
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
  function upsertRow(summary, opts) {
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

  /* Fetch one conversation's row; calls for the same id within a moment share one request. */
  var rowFetches = new Map();

  function fetchRow(id, opts) {
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

  // ------------------------------------------------------------------ title badge, sound, toasts

  function updateTitle() {
    var n = state.unseen.size;
    document.title = n ? "(" + n + ") " + BASE_TITLE : BASE_TITLE;
  }

  var SOUND_KEY = "support-copilot:console:sound";
  var audioCtx = null;

  function soundOn() {
    try {
      return window.localStorage.getItem(SOUND_KEY) === "on";
    } catch (e) {
      return false;
    }
  }

  function ensureAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audioCtx) {
      try {
        audioCtx = new Ctx();
      } catch (e) {
        return null;
      }
    }
    if (audioCtx.state === "suspended") audioCtx.resume();
    return audioCtx;
  }

  function beep() {
    if (!soundOn()) return;
    var ctx = ensureAudio();
    if (!ctx) return;
    var now = ctx.currentTime;
    [
      [880, 0],
      [1320, 0.14],
    ].forEach(function (tone) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, now + tone[1]);
      gain.gain.exponentialRampToValueAtTime(0.18, now + tone[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + tone[1] + 0.13);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + tone[1]);
      osc.stop(now + tone[1] + 0.15);
    });
  }

  function initSound() {
    var toggle = $("sound-toggle");
    toggle.checked = soundOn();
    toggle.addEventListener("change", function () {
      try {
        window.localStorage.setItem(SOUND_KEY, toggle.checked ? "on" : "off");
      } catch (e) {
        /* private mode: the toggle still works for this page */
      }
      if (toggle.checked) {
        // The click is the user gesture browsers need before audio may play.
        ensureAudio();
        beep();
      }
    });
  }

  function toast(title, body, opts) {
    opts = opts || {};
    var box = $("toasts");
    var node = el(
      "div",
      {
        class: "toast" + (opts.kind ? " toast-" + opts.kind : ""),
        role: opts.kind === "error" ? "alert" : "status",
        dataset: opts.conversation ? { conversation: String(opts.conversation) } : null,
      },
      el("div", { class: "toast-text" }, el("strong", null, title), body ? el("span", null, body) : null),
    );
    if (opts.action) {
      node.appendChild(
        el(
          "button",
          {
            type: "button",
            class: "btn btn-sm btn-primary",
            onclick: function () {
              opts.action.run();
              node.remove();
            },
          },
          opts.action.label,
        ),
      );
    }
    node.appendChild(
      el(
        "button",
        {
          type: "button",
          class: "toast-close",
          "aria-label": "Dismiss",
          onclick: function () {
            node.remove();
          },
        },
        "×",
      ),
    );
    box.appendChild(node);
    while (box.children.length > 4) box.firstElementChild.remove();
    setTimeout(function () {
      node.remove();
    }, opts.ttl || 8000);
  }

  // ------------------------------------------------------------------ conversation view

  function parseHash() {
    var m = /(?:^#|[#&])c=(\d+)/.exec(window.location.hash);
    return m ? parseInt(m[1], 10) : null;
  }

  function selectConversation(id) {
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

  function openConversation(id) {
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
    $("conv").hidden = true;
    $("conv-empty").hidden = false;
    $("copilot-body").replaceChildren(
      el("p", { class: "muted" }, "The copilot's reading of the conversation and the customer's CRM record appear here."),
    );
  }

  function loadDetail(id) {
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

  var refreshDetailSoon = debounce(function () {
    if (state.selectedId) loadDetail(state.selectedId);
  }, 400);

  function applyDetail(data) {
    if (!isObj(data)) return;
    state.detail = data;
    var summary = summaryFrom(data) || state.rows.get(state.selectedId) || {};
    renderHeader(Object.assign({}, state.rows.get(state.selectedId) || {}, summary), data);
    renderCopilot(data);
  }

  function renderHeader(summary, detail) {
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

  function updateComposerHint(summary) {
    var hint = $("composer-hint");
    summary = summary || state.rows.get(state.selectedId) || {};
    if (state.mode === "note") {
      hint.textContent = "Only agents see internal notes · Enter to save";
    } else if (summary.status === "resolved") {
      hint.textContent = "This conversation is resolved · the customer reopens it by writing";
    } else if (summary.status === "human" && isObj(summary.assigned_agent) && summary.assigned_agent.username === ME.username) {
      hint.textContent = "Enter to send · Shift+Enter for a new line";
    } else if (summary.status === "human" && isObj(summary.assigned_agent)) {
      hint.textContent = str(summary.assigned_agent.name) + " has this chat · you can add internal notes";
    } else {
      hint.textContent = "Sending a reply takes over the conversation · Shift+Enter for a new line";
    }
  }

  // ------------------------------------------------------------------ transcript

  function loadMessages(id) {
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

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 120;
  }

  function scrollDown(force) {
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

  function addMessage(m) {
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

  function liveBubble(replyTo) {
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

  function clearLive() {
    if (!state.live) return;
    clearTimeout(state.live.timer);
    state.live.node.remove();
    state.live = null;
  }

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

  // --- typing indicators

  var typingTimers = {};
  var typingWho = { customer: false, agent: false };

  function setTyping(role, active, name) {
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

  // ------------------------------------------------------------------ composer

  var composer = $("composer");
  var textarea = $("composer-text");
  var typingState = { active: false, timer: null, sentAt: 0, conversation: null };

  function setMode(mode) {
    state.mode = mode === "note" ? "note" : "reply";
    composer.dataset.mode = state.mode;
    $("mode-reply").setAttribute("aria-pressed", String(state.mode === "reply"));
    $("mode-note").setAttribute("aria-pressed", String(state.mode === "note"));
    $("composer-label").textContent = state.mode === "note" ? "Internal note (agents only)" : "Reply to the customer";
    textarea.placeholder = state.mode === "note" ? "Write an internal note — the customer never sees it" : "Write a reply to the customer…";
    $("composer-send").textContent = state.mode === "note" ? "Add note" : "Send";
    if (state.mode === "note") typingStop();
    updateComposerHint();
  }

  function typingStart() {
    if (state.mode !== "reply" || !state.selectedId) return;
    var now = Date.now();
    // Refresh "typing" every few seconds so the widget's own timeout does not hide it.
    if (!typingState.active || now - typingState.sentAt > 4000) {
      if (wsSend({ type: "typing", conversation: state.selectedId, active: true })) {
        typingState.active = true;
        typingState.sentAt = now;
        typingState.conversation = state.selectedId;
      }
    }
    clearTimeout(typingState.timer);
    typingState.timer = setTimeout(typingStop, 2500);
  }

  function typingStop() {
    clearTimeout(typingState.timer);
    if (typingState.active && typingState.conversation) {
      wsSend({ type: "typing", conversation: typingState.conversation, active: false });
    }
    typingState.active = false;
    typingState.conversation = null;
  }

  function sendComposer() {
    var id = state.selectedId;
    var text = textarea.value.trim();
    if (!id || !text) return;
    var mode = state.mode;
    var button = $("composer-send");
    typingStop();
    button.disabled = true;
    textarea.setAttribute("aria-busy", "true");
    hideConvError();
    api("POST", "conversations/" + id + (mode === "note" ? "/notes" : "/reply"), { text: text })
      .then(function (data) {
        if (id === state.selectedId) {
          if (textarea.value.trim() === text) textarea.value = "";
          var message = isObj(data) && isObj(data.message) ? data.message : data;
          if (isObj(message) && message.id !== undefined && message.role) addMessage(message);
          if (mode === "reply") refreshDetailSoon();
        }
        state.drafts.delete(id);
      })
      .catch(function (err) {
        if (id === state.selectedId) showConvError(err.message);
      })
      .finally(function () {
        button.disabled = false;
        textarea.removeAttribute("aria-busy");
        textarea.focus();
      });
  }

  function initComposer() {
    composer.addEventListener("submit", function (e) {
      e.preventDefault();
      sendComposer();
    });
    textarea.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        sendComposer();
      }
    });
    textarea.addEventListener("input", function () {
      if (textarea.value.trim()) typingStart();
      else typingStop();
    });
    textarea.addEventListener("blur", function () {
      typingStop();
    });
    $("mode-reply").addEventListener("click", function () {
      setMode("reply");
      textarea.focus();
    });
    $("mode-note").addEventListener("click", function () {
      setMode("note");
      textarea.focus();
    });
    $("act-suggest").addEventListener("click", suggestReply);
  }

  function fillComposer(text) {
    setMode("reply");
    textarea.value = text;
    textarea.focus();
    textarea.setSelectionRange(text.length, text.length);
  }

  function suggestReply() {
    var id = state.selectedId;
    if (!id) return;
    var button = $("act-suggest");
    button.disabled = true;
    button.classList.add("is-busy");
    hideConvError();
    api("POST", "conversations/" + id + "/suggest")
      .then(function (data) {
        if (id !== state.selectedId) return;
        var text = str(isObj(data) ? first(data.text, data.reply, data.suggestion) : data);
        if (text) fillComposer(text);
        else showConvError("The copilot had no suggestion for this conversation.");
      })
      .catch(function (err) {
        if (id === state.selectedId) showConvError(err.message);
      })
      .finally(function () {
        button.disabled = false;
        button.classList.remove("is-busy");
      });
  }

  // ------------------------------------------------------------------ actions

  function showConvError(message) {
    var box = $("conv-error");
    box.querySelector(".alert-text").textContent = message;
    box.hidden = false;
  }

  function hideConvError() {
    $("conv-error").hidden = true;
  }

  function runAction(button, path, body, after) {
    var id = state.selectedId;
    if (!id) return;
    button.disabled = true;
    hideConvError();
    return api("POST", "conversations/" + id + "/" + path, body)
      .then(function (data) {
        if (id !== state.selectedId) return;
        // State changes answer with the queue row: update the row and header at once,
        // then reload the detail (ticket, copilot panel) behind it.
        var summary = summaryFrom(data);
        if (summary && summary.status) {
          upsertRow(summary);
          renderHeader(Object.assign({}, state.rows.get(id) || {}, summary), state.detail);
        }
        if (after) after(data);
        loadDetail(id);
        fetchRow(id);
      })
      .catch(function (err) {
        if (id !== state.selectedId) return;
        var message = err.message;
        if (err.status === 409 && isObj(err.data) && err.data.owner && !/taken over/.test(message)) {
          var owner = isObj(err.data.owner) ? first(err.data.owner.name, err.data.owner.username) : err.data.owner;
          message = str(owner) + " has already taken over this conversation.";
        }
        showConvError(message);
        if (err.status === 409) {
          // Someone else moved first: catch up with what this console missed.
          loadDetail(id);
          fetchRow(id);
          loadMessages(id);
        }
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  function initActions() {
    $("act-take").addEventListener("click", function () {
      runAction(this, "take-over", undefined, function () {
        textarea.focus();
      });
    });
    $("act-handback").addEventListener("click", function () {
      runAction(this, "hand-back");
    });
    $("act-resolve").addEventListener("click", function () {
      runAction(this, "resolve");
    });
    $("act-assign").addEventListener("click", function () {
      var username = $("act-assign-select").value;
      if (!username) {
        showConvError("Choose an agent to assign the conversation to.");
        $("act-assign-select").focus();
        return;
      }
      var button = this;
      runAction(button, "assign", { agent: username }, function () {
        var agent = state.agents.find(function (a) {
          return a.username === username;
        });
        toast("Assigned", "The conversation now belongs to " + (agent ? agent.name : username) + ".", { ttl: 4000 });
      });
    });
    document.querySelector("#conv-error .alert-close").addEventListener("click", hideConvError);
  }

  function loadAgents() {
    return api("GET", "agents")
      .then(function (data) {
        state.agents = list(isObj(data) && Array.isArray(data.agents) ? data.agents : data)
          .filter(isObj)
          .map(function (a) {
            var user = isObj(a.user) ? a.user : {};
            return {
              username: str(first(a.username, user.username)),
              name: str(first(a.name, a.display_name, user.name, a.username)),
              online: !!first(a.online, a.presence === "online" ? true : undefined),
            };
          })
          .filter(function (a) {
            return a.username;
          });
        renderAgentSelect();
        if (!state.online.length) {
          renderPresence(
            state.agents.filter(function (a) {
              return a.online;
            }),
          );
        }
      })
      .catch(function () {
        /* the select keeps its placeholder; assigning still reports errors */
      });
  }

  function renderAgentSelect() {
    var select = $("act-assign-select");
    var current = select.value;
    var onlineNames = new Set(
      state.online.map(function (a) {
        return a.username;
      }),
    );
    var options = [el("option", { value: "" }, "Assign to…")];
    select.title = "Assign to another agent (● online)";
    state.agents.forEach(function (a) {
      var online = onlineNames.size ? onlineNames.has(a.username) : a.online;
      var label = (online ? "● " : "○ ") + a.name + (a.username === ME.username ? " (you)" : "");
      options.push(el("option", { value: a.username }, label));
    });
    select.replaceChildren.apply(select, options);
    select.value = current;
    var s = state.rows.get(state.selectedId);
    if (!current && s && isObj(s.assigned_agent)) select.value = str(s.assigned_agent.username);
  }

  // ------------------------------------------------------------------ presence

  function renderPresence(agents) {
    state.online = (agents || []).filter(function (a) {
      return isObj(a) && a.online !== false;
    });
    var listNode = $("presence-list");
    var items = state.online.map(function (a) {
      var name = str(first(a.name, a.username));
      return el(
        "li",
        { class: "presence-agent", title: name + (a.username === ME.username ? " (you)" : "") + " · online" },
        el("span", { class: "presence-avatar" }, avatar(name, "avatar-sm"), el("span", { class: "online-dot", "aria-hidden": "true" })),
        el("span", { class: "presence-name" }, name.split(" ")[0]),
      );
    });
    if (!items.length) items.push(el("li", { class: "presence-none" }, "Nobody"));
    listNode.replaceChildren.apply(listNode, items);
    $("presence-label").textContent = "Online" + (state.online.length ? " (" + state.online.length + ")" : "");
    if (state.agents.length) renderAgentSelect();
  }

  // ------------------------------------------------------------------ websocket

  var ws = { sock: null, attempts: 0, ping: null, retry: null, everOpen: false, denied: false };

  function setConn(kind, text) {
    var node = $("conn-status");
    node.className = "conn conn-" + kind;
    node.querySelector(".conn-text").textContent = text;
  }

  function wsSend(frame) {
    if (ws.sock && ws.sock.readyState === WebSocket.OPEN) {
      ws.sock.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
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
      if (ws.everOpen) resync();
      ws.everOpen = true;
    });
    sock.addEventListener("message", function (e) {
      var frame;
      try {
        frame = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (isObj(frame)) dispatch(frame);
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

  /* After a reconnect: what happened while the socket was down. */
  function resync() {
    loadQueue(false);
    if (state.selectedId) {
      loadDetail(state.selectedId);
      loadMessages(state.selectedId);
    }
  }

  function dispatch(f) {
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

  // ------------------------------------------------------------------ copilot panel

  function copilotOf(d) {
    if (!isObj(d)) return {};
    var cp = first(d.copilot, d.copilot_panel, d.panel, d.insights);
    return isObj(cp) ? cp : {};
  }

  function card(title, children, opts) {
    opts = opts || {};
    var body = [].concat(children).filter(Boolean);
    if (!body.length && !opts.always) return null;
    return el("section", { class: "card" + (opts.cls ? " " + opts.cls : "") }, el("h3", { class: "card-title" }, title, opts.aside || null), body);
  }

  function kv(label, value) {
    if (value === null || value === undefined || value === "") return null;
    return el("div", { class: "kv" }, el("dt", null, label), el("dd", null, value));
  }

  function confidenceOf(value) {
    var n = typeof value === "number" ? value : parseFloat(value);
    if (isNaN(n)) return null;
    return n > 1 ? n / 100 : n;
  }

  function renderCopilot(d) {
    var cp = copilotOf(d);
    var body = $("copilot-body");
    var sections = [];

    sections.push(renderCustomerCard(d));

    var summaryText = str(first(cp.summary, isObj(cp.memory) ? cp.memory.summary : undefined, d.summary, isObj(d.memory) ? d.memory.summary : undefined));
    sections.push(card("Summary", summaryText ? el("p", { class: "summary" }, summaryText) : null));

    // Intent and sentiment.
    var intentObj = isObj(cp.intent) ? cp.intent : isObj(d.intent) ? d.intent : {};
    var intent = str(first(intentObj.name, intentObj.intent, typeof cp.intent === "string" ? cp.intent : undefined, typeof d.intent === "string" ? d.intent : undefined));
    var confidence = confidenceOf(first(intentObj.confidence, cp.intent_confidence, d.intent_confidence));
    var sentimentObj = isObj(cp.sentiment) ? cp.sentiment : isObj(d.sentiment) ? d.sentiment : {};
    var sentiment = str(first(sentimentObj.current, sentimentObj.label, typeof cp.sentiment === "string" ? cp.sentiment : undefined, typeof d.sentiment === "string" ? d.sentiment : undefined));
    var trajectory = list(
      first(
        cp.sentiment_trajectory,
        cp.sentiments,
        sentimentObj.trajectory,
        isObj(cp.memory) ? cp.memory.sentiment_trajectory : undefined,
        d.sentiment_trajectory,
        isObj(d.memory) ? d.memory.sentiment_trajectory : undefined,
      ),
    );
    var urgency = str(first(cp.urgency, sentimentObj.urgency, d.urgency));
    var reading = [];
    if (intent) {
      reading.push(
        el(
          "div",
          { class: "intent-row" },
          el("span", { class: "chip intent chip-lg" }, humanize(intent)),
          confidence !== null
            ? el(
                "span",
                { class: "confidence", title: "Intent confidence" },
                el("span", { class: "meter", role: "img", "aria-label": Math.round(confidence * 100) + "% confidence" }, el("span", { class: "meter-fill", style: "width:" + Math.round(Math.max(0, Math.min(1, confidence)) * 100) + "%" })),
                Math.round(confidence * 100) + "%",
              )
            : null,
        ),
      );
    }
    if (sentiment || trajectory.length || urgency) {
      reading.push(
        el(
          "div",
          { class: "sentiment-row" },
          el("span", { class: "kv-label" }, "Sentiment"),
          sentimentChip(sentiment),
          urgency ? el("span", { class: "chip urgency urgency-" + urgency }, humanize(urgency) + " urgency") : null,
        ),
      );
      if (trajectory.length) reading.push(renderTrajectory(trajectory));
    }
    var qa = typeof cp.qa_score === "number" ? cp.qa_score : null;
    if (qa !== null || cp.flagged) {
      var qaReasons = list(cp.qa_reasons).map(str).filter(Boolean);
      reading.push(
        el(
          "div",
          { class: "qa-row" + (cp.flagged ? " is-flagged" : "") },
          el("span", { class: "kv-label" }, "Answer quality"),
          qa !== null ? el("strong", null, (Math.round(qa * 10) / 10) + "/10") : null,
          cp.flagged ? el("span", { class: "chip reason" }, "Flagged for review") : null,
        ),
        cp.flagged && qaReasons.length ? el("p", { class: "muted small qa-reasons" }, qaReasons.join("; ")) : null,
      );
    }
    sections.push(card("Intent & sentiment", reading));

    // Escalation.
    var ticket = isObj(d.ticket) ? d.ticket : null;
    var reasons = list(first(cp.escalation_reasons, d.escalation_reasons, ticket && ticket.reasons));
    var esc = [];
    if (reasons.length) {
      esc.push(
        el(
          "ul",
          { class: "reasons" },
          reasons.map(function (r) {
            var text = isObj(r) ? first(r.label, r.text, r.reason, r.code) : r;
            return el("li", { class: "chip reason" }, humanize(str(text)));
          }),
        ),
      );
    }
    if (ticket && ticket.reason && !reasons.length) esc.push(el("p", { class: "muted small" }, str(ticket.reason)));
    if (ticket) {
      esc.push(
        el(
          "dl",
          { class: "kvs" },
          kv("Ticket", str(first(ticket.reference, ticket.id))),
          kv("Priority", ticket.priority ? priorityBadge(ticket.priority) : null),
          kv("Status", humanize(ticket.status)),
          kv("SLA due", ticket.sla_due_at ? fullTime(ticket.sla_due_at) : null),
        ),
      );
    }
    sections.push(card("Escalation", esc, { cls: reasons.length ? "card-alert" : "" }));

    // Follow-up plan.
    var plan = first(cp.follow_up, cp.follow_up_plan, d.follow_up, d.follow_up_plan);
    var steps = list(isObj(plan) ? first(plan.steps, plan.actions) : plan).map(function (s) {
      return str(isObj(s) ? first(s.text, s.step, s.title) : s);
    }).filter(Boolean);
    sections.push(
      card(
        "Next steps",
        steps.length
          ? el(
              "ol",
              { class: "steps" },
              steps.map(function (s) {
                return el("li", null, s);
              }),
            )
          : null,
      ),
    );

    // Suggested replies.
    var suggestions = list(first(cp.suggested_replies, d.suggested_replies)).map(function (s) {
      return str(isObj(s) ? first(s.text, s.reply) : s);
    }).filter(Boolean);
    sections.push(
      card(
        "Suggested replies",
        suggestions.length
          ? el(
              "ul",
              { class: "suggestions" },
              suggestions.map(function (s) {
                return el(
                  "li",
                  null,
                  el(
                    "button",
                    {
                      type: "button",
                      class: "suggestion",
                      title: "Put this reply in the composer to edit it",
                      onclick: function () {
                        fillComposer(s);
                      },
                    },
                    el("span", { class: "suggestion-text" }, s),
                    el("span", { class: "suggestion-use" }, "Use"),
                  ),
                );
              }),
            )
          : null,
      ),
    );

    // Cited articles.
    var citations = list(first(cp.citations, cp.articles, cp.cited_articles, d.citations, d.cited_articles));
    var seen = new Set();
    var links = citations
      .filter(isObj)
      .filter(function (c) {
        var key = str(first(c.url, c.title));
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map(function (c) {
        var href = safeUrl(str(first(c.url, c.href)));
        var title = str(first(c.title, c.url)) || "Article";
        return el("li", null, href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, title) : title);
      });
    sections.push(card("Cited articles", links.length ? el("ul", { class: "links" }, links) : null));

    // Entities.
    sections.push(card("Entities", renderEntities(first(cp.entities, d.entities))));

    var nonEmpty = sections.filter(Boolean);
    if (nonEmpty.length <= 1) {
      nonEmpty.push(el("p", { class: "muted small" }, "The copilot has not analysed this conversation yet."));
    }
    body.replaceChildren.apply(body, nonEmpty);
  }

  function renderTrajectory(points) {
    var items = points
      .map(function (p) {
        return isObj(p) ? p : { sentiment: p };
      })
      .filter(function (p) {
        return str(p.sentiment);
      });
    if (!items.length) return null;
    var labels = items.map(function (p) {
      return humanize(p.sentiment);
    });
    return el(
      "div",
      { class: "trajectory", role: "img", "aria-label": "Sentiment over the conversation: " + labels.join(", ") },
      el("span", { class: "trajectory-label", "aria-hidden": "true" }, "Trend"),
      el(
        "span",
        { class: "trajectory-dots", "aria-hidden": "true" },
        items.map(function (p, i) {
          var level = SENTIMENTS.indexOf(str(p.sentiment));
          return el("span", {
            class: "tdot sentiment-" + str(p.sentiment),
            title: (i + 1) + ". " + labels[i] + (p.score !== undefined ? " (" + p.score + ")" : ""),
            style: "--lvl:" + (level < 0 ? 1 : level),
          });
        }),
      ),
    );
  }

  function renderEntities(entities) {
    if (!isObj(entities)) return null;
    var groups = [];
    Object.keys(entities).forEach(function (key) {
      var values = entities[key];
      if (!Array.isArray(values)) values = values === null || values === undefined || values === "" ? [] : [values];
      var texts = values
        .map(function (v) {
          if (isObj(v)) return str(first(v.text, v.value, v.name));
          return str(v);
        })
        .filter(Boolean);
      if (!texts.length) return;
      groups.push(
        el(
          "div",
          { class: "kv" },
          el("dt", null, humanize(key)),
          el(
            "dd",
            { class: "chips" },
            texts.map(function (t) {
              return el("span", { class: "chip entity" }, t);
            }),
          ),
        ),
      );
    });
    return groups.length ? el("dl", { class: "kvs" }, groups) : null;
  }

  function money(value, currency) {
    var n = parseFloat(value);
    if (isNaN(n)) return str(value);
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(n);
    } catch (e) {
      return n.toFixed(2) + (currency ? " " + currency : "");
    }
  }

  function renderCustomerCard(d) {
    var c = first(isObj(d.customer_card) ? d.customer_card : undefined, isObj(d.crm) ? d.crm : undefined, isObj(d.customer) ? d.customer : undefined);
    if (!isObj(c)) {
      return card("Customer", [el("p", { class: "muted small" }, "Anonymous visitor: not signed in, so no CRM record and no account or order tools.")], { cls: "card-customer" });
    }
    var base = isObj(d.customer) ? d.customer : {};
    var name = str(first(c.name, base.name)) || "Customer";
    var account = isObj(c.account) ? c.account : isObj(base.account) ? base.account : null;
    var orders = list(first(c.recent_orders, c.orders, base.recent_orders, base.orders, d.recent_orders, d.orders));
    var tickets = list(first(c.open_tickets, base.open_tickets));
    var email = str(first(c.email, base.email));
    var parts = [
      el(
        "div",
        { class: "customer-head" },
        avatar(name, "avatar-lg"),
        el(
          "div",
          null,
          el("div", { class: "customer-name" }, name, tierBadge(first(c.tier, base.tier))),
          email ? el("a", { class: "customer-email", title: email }, email) : null,
        ),
      ),
    ];
    // mailto: is not http(s); set it directly (the address is plain text from the CRM).
    var mail = parts[0].querySelector(".customer-email");
    if (mail) mail.setAttribute("href", "mailto:" + encodeURIComponent(email).replace(/%40/g, "@"));
    parts.push(
      el(
        "dl",
        { class: "kvs" },
        kv("Customer ID", str(first(c.external_id, base.external_id))),
        kv("Phone", str(first(c.phone, base.phone))),
        kv("Language", str(first(c.locale, base.locale)).toUpperCase()),
        account ? kv("Account", str(account.number)) : null,
        account
          ? kv(
              "Account status",
              el("span", { class: "acct acct-" + str(account.status) }, humanize(account.status) || "—"),
            )
          : kv("Account status", "No account"),
        account && account.subscription_tier ? kv("Plan", humanize(account.subscription_tier)) : null,
        account && account.balance !== undefined && account.balance !== null ? kv("Balance", money(account.balance, account.currency)) : null,
      ),
    );
    if (orders.length) {
      parts.push(
        el(
          "table",
          { class: "orders" },
          el("caption", null, "Recent orders"),
          el("thead", null, el("tr", null, el("th", { scope: "col" }, "Order"), el("th", { scope: "col" }, "Status"), el("th", { scope: "col", class: "num" }, "Total"))),
          el(
            "tbody",
            null,
            orders.filter(isObj).slice(0, 5).map(function (o) {
              return el(
                "tr",
                null,
                el("td", { title: o.placed_at ? "Placed " + str(o.placed_at) : null }, el("span", { class: "mono" }, "#" + str(o.number))),
                el("td", null, el("span", { class: "ostatus ostatus-" + str(o.status) }, humanize(o.status))),
                el("td", { class: "num" }, money(o.total, o.currency)),
              );
            }),
          ),
        ),
      );
    } else {
      parts.push(el("p", { class: "muted small" }, "No orders."));
    }
    if (tickets.length) {
      parts.push(
        el(
          "div",
          { class: "open-tickets" },
          el("div", { class: "kv-label" }, "Open tickets"),
          el(
            "ul",
            null,
            tickets.filter(isObj).map(function (t) {
              return el("li", null, el("span", { class: "mono" }, str(t.reference)), " ", str(t.subject));
            }),
          ),
        ),
      );
    }
    return card("Customer", parts, { cls: "card-customer" });
  }

  // ------------------------------------------------------------------ start

  function initFilters() {
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

  function initShortcuts() {
    document.addEventListener("keydown", function (e) {
      if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
      if (e.key === "/" && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        filters.search.focus();
      } else if ((e.key === "j" || e.key === "k") && state.order.length) {
        var index = state.order.indexOf(state.selectedId);
        var next = e.key === "j" ? Math.min(state.order.length - 1, index + 1) : Math.max(0, index - 1);
        if (index === -1) next = 0;
        selectConversation(state.order[next]);
      }
    });
  }

  function init() {
    document.querySelectorAll(".avatar[data-name]").forEach(function (node) {
      paintAvatar(node, node.dataset.name);
    });
    initSound();
    initFilters();
    initComposer();
    initActions();
    initShortcuts();
    setMode("reply");
    window.addEventListener("hashchange", function () {
      openConversation(parseHash());
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && state.selectedId && state.unseen.delete(state.selectedId)) updateTitle();
    });
    window.addEventListener("online", function () {
      ws.attempts = 0;
      connect();
    });
    $("transcript").addEventListener("scroll", function () {
      this.dataset.pinned = nearBottom(this) ? "true" : "false";
    });
    setInterval(refreshTimes, 30000);
    loadQueue(false);
    loadAgents();
    connect();
    var initial = parseHash();
    if (initial) openConversation(initial);
  }

  init();
})();
