/* Support Copilot agent console: the entry module (templates/console/index.html loads it
 * with <script type="module">); it wires the modules below together and starts the console.
 *
 * Vanilla JS in native ES modules, no build step. Talks to the agent REST API (/api/conversations…)
 * and the console websocket (ws/console/); the protocol is docs/live-chat.md.
 *
 * Security: every piece of data reaches the DOM through textContent or setAttribute on
 * safe attributes; links are limited to http(s) and same-origin paths. No innerHTML.
 *
 * Modules, each depending only on those listed above it (no cycles; loading them runs nothing
 * but reading the config and looking up a few fixed elements):
 *   config.js         the page's config and fixed labels
 *   dom.js            small helpers: $, el, text, time formats, avatars, debounce
 *   api.js            REST calls (CSRF, errors as ApiError)
 *   state.js          the shared mutable state object and queue-row summaries
 *   badges.js         status, tier, priority and sentiment badges
 *   alerts.js         title badge, sound, toasts, the conversation's error banner
 *   socket.js         the websocket connection
 *   queue.js          queue filters, loading and rendering
 *   transcript.js     messages, the bot's streamed answer, typing indicators
 *   composer.js       composer mode, "typing" frames, hint
 *   copilot-panel.js  the copilot panel
 *   follow-up.js      the email follow-up line above the composer, replies marked emailed
 *   agents.js         agent list (assign select) and presence
 *   conversation.js   opening a conversation, its header and detail
 *   actions.js        sending replies and notes, suggestions, take over / hand back / resolve / assign
 *   live.js           what each websocket frame does
 */

import { HAS_CONFIG } from "./config.js";
import { $, paintAvatar, refreshTimes } from "./dom.js";
import { state } from "./state.js";
import { updateTitle, initSound } from "./alerts.js";
import { ws, connect, setSocketHandlers } from "./socket.js";
import { filters, loadQueue, initFilters } from "./queue.js";
import { nearBottom } from "./transcript.js";
import { setMode } from "./composer.js";
import { loadAgents } from "./agents.js";
import { parseHash, selectConversation, openConversation } from "./conversation.js";
import { initComposer, initActions } from "./actions.js";
import { resync, dispatch } from "./live.js";

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
  setSocketHandlers(dispatch, resync);
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

if (HAS_CONFIG) init();
