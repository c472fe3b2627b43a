/* The email follow-up of the open conversation (docs/live-chat.md, "Email follow-up when no agent
 * is online"): when no agent was online at escalation the customer was promised an answer by
 * email, and every agent reply is also emailed. The line above the composer says so, where the
 * replies go and whether the acknowledgement went out; the transcript marks replies emailed.
 *
 * Both emails go out after the fact (a Celery task), so this looks again a little later. */

import { $, el, isObj, str, list, toDate, fullTime, clockTime } from "./dom.js";
import { api } from "./api.js";
import { state } from "./state.js";
import { markEmailed } from "./transcript.js";

/* The open ticket when it promises an email follow-up, else null. */
export function followUpTicket(detail) {
  var ticket = isObj(detail) && isObj(detail.ticket) ? detail.ticket : null;
  return ticket && ticket.follow_up_by_email === true ? ticket : null;
}

function when(iso) {
  var d = toDate(iso);
  if (!d) return "";
  if (d.toDateString() === new Date().toDateString()) return "at " + clockTime(iso);
  return "on " + d.toLocaleDateString(undefined, { day: "numeric", month: "short" }) + " " + clockTime(iso);
}

// The services email a reply only if an address is known when it is sent (helpdesk/services/follow_up.py).
const NO_ADDRESS_YET = "Replies sent before then are not emailed; no acknowledgement yet";

// Ticket id -> how many times the console looked again for the acknowledgement.
const ackChecks = new Map();
const ACK_RECHECK_MS = [4000, 15000, 45000];

/* Show or hide the line for `detail` (a conversation detail, or null while one loads).
 * `reload` fetches the detail again: called a few times while the acknowledgement is due. */
export function renderFollowUp(detail, reload) {
  var node = $("conv-follow-up");
  var ticket = followUpTicket(detail);
  if (!ticket) {
    node.hidden = true;
    node.replaceChildren();
    return;
  }
  var email = str(detail.reply_email);
  var text = email
    ? [
        "Email follow-up promised — replies are also emailed to ",
        el("strong", { class: "follow-up-email" }, email),
        el("span", { class: "follow-up-source" }, str(detail.contact_email) ? " (left in the chat)" : " (from the CRM)"),
      ]
    : ["Email follow-up promised — waiting for the customer's email address"];
  var acked = str(ticket.follow_up_acknowledged_at);
  var ack;
  if (acked) {
    ack = el("span", { class: "follow-up-ack is-sent", title: fullTime(acked) }, "✓ Acknowledgement emailed " + when(acked));
  } else {
    ack = el("span", { class: "follow-up-ack" }, email ? "Acknowledgement not sent yet" : NO_ADDRESS_YET);
    var checks = ackChecks.get(ticket.id) || 0;
    if (email && reload && checks < ACK_RECHECK_MS.length) {
      ackChecks.set(ticket.id, checks + 1);
      setTimeout(reload, ACK_RECHECK_MS[checks]);
    }
  }
  node.replaceChildren(
    el("span", { class: "follow-up-icon", "aria-hidden": "true" }, "✉"),
    el("span", { class: "follow-up-text" }, text),
    ack,
  );
  node.hidden = false;
}

function awaitingEmail() {
  return Array.from(state.messages.values()).some(function (m) {
    return m.role === "agent" && !m.emailed_at;
  });
}

function refreshEmailed(id) {
  if (id !== state.selectedId || !followUpTicket(state.detail) || !awaitingEmail()) return;
  api("GET", "conversations/" + id + "/messages")
    .then(function (data) {
      if (id === state.selectedId) markEmailed(list(isObj(data) ? data.messages : data));
    })
    .catch(function () {
      /* the next look, or the next reload, catches up */
    });
}

/* After a reply on conversation `id`: look a few times for it to have been emailed. */
export function refreshEmailedSoon(id) {
  [1500, 8000, 30000].forEach(function (ms) {
    setTimeout(function () {
      refreshEmailed(id);
    }, ms);
  });
}
