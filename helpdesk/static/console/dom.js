/* Small DOM and formatting helpers; no console state.
 *
 * Security: data reaches the DOM only through textContent or setAttribute; el() keeps only
 * http(s) and same-origin hrefs. No innerHTML. */

export function $(id) {
  return document.getElementById(id);
}

/* el("div", {class: "x", title: t}, child, "text", [children]) — strings become text nodes. */
export function el(tag, attrs) {
  var node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      // Through CSSOM: the console's CSP (style-src 'self') refuses style attributes.
      else if (key === "style") node.style.cssText = String(value);
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

export function append(node, child) {
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

export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  try {
    var url = new URL(value, window.location.href);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  } catch (e) {
    /* not a URL */
  }
  return null;
}

export function isObj(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function str(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

export function list(value) {
  if (Array.isArray(value)) return value;
  if (isObj(value) && Array.isArray(value.results)) return value.results;
  return [];
}

/* The first argument that is not null/undefined/"" (arrays: not empty). */
export function first() {
  for (var i = 0; i < arguments.length; i++) {
    var v = arguments[i];
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v) && !v.length) continue;
    return v;
  }
  return undefined;
}

export function humanize(value) {
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

export function avatar(name, extraClass) {
  var node = el("span", { class: "avatar" + (extraClass ? " " + extraClass : ""), "aria-hidden": "true" });
  paintAvatar(node, name);
  return node;
}

export function paintAvatar(node, name) {
  node.textContent = initials(name);
  node.style.backgroundColor = "hsl(" + hue(name) + ", 55%, 88%)";
  node.style.color = "hsl(" + hue(name) + ", 45%, 28%)";
}

export function toDate(iso) {
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

export function fullTime(iso) {
  var d = toDate(iso);
  return d ? d.toLocaleString() : "";
}

export function clockTime(iso) {
  var d = toDate(iso);
  return d ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) : "";
}

export function timeEl(iso, cls, formatter) {
  var node = el("time", { class: cls || "", datetime: iso || "", title: fullTime(iso) });
  node.dataset.ts = iso || "";
  if (formatter) node.dataset.fmt = "clock";
  node.textContent = formatter ? formatter(iso) : relTime(iso);
  return node;
}

export function refreshTimes() {
  document.querySelectorAll("time[data-ts]").forEach(function (node) {
    if (node.dataset.fmt === "clock" || !node.dataset.ts) return;
    node.textContent = relTime(node.dataset.ts);
  });
}

export function debounce(fn, ms) {
  var timer = null;
  return function () {
    var args = arguments;
    clearTimeout(timer);
    timer = setTimeout(function () {
      fn.apply(null, args);
    }, ms);
  };
}

export function convId(value) {
  if (isObj(value)) value = value.id;
  var n = typeof value === "number" ? value : parseInt(value, 10);
  return n > 0 ? n : null;
}
