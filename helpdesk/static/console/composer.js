/* The composer: reply or internal-note mode, the agent's "typing" frames, the hint line. */

import { ME } from "./config.js";
import { $, isObj, str } from "./dom.js";
import { state } from "./state.js";
import { wsSend } from "./socket.js";

export const composer = $("composer");
export const textarea = $("composer-text");

const typingState = { active: false, timer: null, sentAt: 0, conversation: null };

export function setMode(mode) {
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

export function typingStart() {
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

export function typingStop() {
  clearTimeout(typingState.timer);
  if (typingState.active && typingState.conversation) {
    wsSend({ type: "typing", conversation: typingState.conversation, active: false });
  }
  typingState.active = false;
  typingState.conversation = null;
}

export function updateComposerHint(summary) {
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

export function fillComposer(text) {
  setMode("reply");
  textarea.value = text;
  textarea.focus();
  textarea.setSelectionRange(text.length, text.length);
}
