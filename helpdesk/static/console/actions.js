/* What the agent does: send a reply or a note, ask for a suggestion, take over, hand back,
 * resolve, assign. */

import { $, isObj, str, first } from "./dom.js";
import { api } from "./api.js";
import { state, summaryFrom } from "./state.js";
import { toast, showConvError, hideConvError } from "./alerts.js";
import { upsertRow } from "./queue.js";
import { loadMessages, addMessage } from "./transcript.js";
import { composer, textarea, setMode, typingStart, typingStop, fillComposer } from "./composer.js";
import { refreshEmailedSoon } from "./follow-up.js";
import { loadDetail, refreshDetailSoon, renderHeader, fetchRow } from "./conversation.js";

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
        if (mode === "reply") {
          refreshDetailSoon();
          refreshEmailedSoon(id);
        }
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

export function initComposer() {
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

export function initActions() {
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
