/* Getting the agent's attention: the title badge, the escalation sound, toasts, and the
 * open conversation's error banner. */

import { BASE_TITLE } from "./config.js";
import { $, el } from "./dom.js";
import { state } from "./state.js";

export function updateTitle() {
  var n = state.unseen.size;
  document.title = n ? "(" + n + ") " + BASE_TITLE : BASE_TITLE;
}

const SOUND_KEY = "support-copilot:console:sound";

let audioCtx = null;

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

export function beep() {
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

export function initSound() {
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

export function toast(title, body, opts) {
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

export function showConvError(message) {
  var box = $("conv-error");
  box.querySelector(".alert-text").textContent = message;
  box.hidden = false;
}

export function hideConvError() {
  $("conv-error").hidden = true;
}
