/* Badges and chips shared by the queue, the conversation header and the copilot panel. */

import { STATUS_LABELS, TIER_LABELS } from "./config.js";
import { el, str, humanize } from "./dom.js";

export function statusBadge(status) {
  return el("span", { class: "badge status-" + str(status) }, STATUS_LABELS[status] || humanize(status) || "—");
}

export function tierBadge(tier) {
  if (!tier) return null;
  var key = str(tier).toLowerCase();
  return el("span", { class: "tier tier-" + key, title: "Customer tier" }, TIER_LABELS[key] || humanize(tier));
}

export function priorityBadge(priority) {
  if (!priority) return null;
  return el("span", { class: "prio prio-" + str(priority) }, humanize(priority));
}

export function sentimentChip(sentiment) {
  if (!sentiment) return null;
  return el("span", { class: "chip sentiment sentiment-" + str(sentiment) }, el("span", { class: "sdot", "aria-hidden": "true" }), humanize(sentiment));
}
