// Live preview of an article's Markdown body in the admin: the server renders and
// sanitises it exactly as the help centre does, so what a curator sees is what ships.
"use strict";
(function () {
  function csrfToken(form) {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    const body = document.getElementById("id_body");
    const box = document.querySelector(".kb-preview");
    if (!body || !box || !box.dataset.url) return;
    let timer = null;
    let latest = 0;
    function refresh() {
      const request = ++latest;
      const data = new FormData();
      data.append("body", body.value);
      fetch(box.dataset.url, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": csrfToken(body.form) },
        credentials: "same-origin",
      })
        .then(function (response) {
          if (!response.ok) throw new Error("preview failed: " + response.status);
          return response.text();
        })
        .then(function (html) {
          // Responses can arrive out of order; only the newest one counts.
          if (request === latest) box.innerHTML = html;
        })
        .catch(function () {
          if (request === latest) box.textContent = "Preview unavailable; the article still saves normally.";
        });
    }
    body.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    });
    if (!box.innerHTML.trim() && body.value.trim()) refresh();
  });
})();
