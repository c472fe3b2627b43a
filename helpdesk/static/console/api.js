/* The agent REST API: fetch with the session cookie and the CSRF token; a failure
 * rejects with an ApiError (status, message, data). */

import { API } from "./config.js";
import { isObj } from "./dom.js";

function cookie(name) {
  var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return match ? decodeURIComponent(match[1]) : "";
}

function csrfToken() {
  var field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return cookie("csrftoken") || (field ? field.value : "");
}

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

export function api(method, path, body) {
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
