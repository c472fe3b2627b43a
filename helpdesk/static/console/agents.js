/* Agents: the "Assign to" list and who is online (presence). */

import { ME } from "./config.js";
import { $, el, isObj, str, list, first, avatar } from "./dom.js";
import { api } from "./api.js";
import { state } from "./state.js";

export function loadAgents() {
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

export function renderPresence(agents) {
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
