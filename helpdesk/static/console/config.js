/* The console's settings (the page's #console-config JSON) and fixed labels. */

const configNode = document.getElementById("console-config");
/* Without the config there is no console on this page: console.js starts nothing. */
export const HAS_CONFIG = !!configNode;
export const CFG = configNode ? JSON.parse(configNode.textContent) : {};
export const ME = CFG.user || {};
export const API = CFG.api || "/api/";
export const PING_MS = (CFG.ping_seconds || 25) * 1000;
export const BASE_TITLE = document.title;

export const STATUS_LABELS = {
  bot: "Bot",
  pending_human: "Waiting",
  human: "With agent",
  resolved: "Resolved",
};
export const CHANNEL_LABELS = { widget: "Widget", email: "E-mail", api: "API", cli: "CLI" };
export const TIER_LABELS = { vip: "VIP", gold: "Gold", standard: "Standard" };
export const STATUS_RANK = { pending_human: 0, human: 1, bot: 2, resolved: 3 };
export const ROLE_LABELS = { customer: "Customer", assistant: "Copilot", agent: "Agent", system: "System", note: "Internal note" };
export const SENTIMENTS = ["positive", "neutral", "negative", "frustrated", "angry"];
