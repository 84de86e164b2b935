// Keeps scan status and progress current without a page reload.
// Each element with data-status-url is polled; when a scan on a detail page reaches a new
// status, the page reloads once to show the new content (images, review, answers).
(function () {
  "use strict";
  var WORKING = ["uploaded", "queued", "deidentifying", "consented", "sending"];
  var POLL_MS = 2000;

  function update(el, data) {
    var label = el.querySelector('[data-field="status_label"]');
    if (label) {
      label.textContent = data.status_label;
      label.className = "status status-" + data.status;
    }
    var bar = el.querySelector('[data-field="progress"]');
    if (bar) {
      bar.max = Math.max(data.progress.total, 1);
      bar.value = data.progress.done;
    }
    var text = el.querySelector('[data-field="progress_text"]');
    if (text) {
      var of = window.gettext ? window.gettext("%(done)s of %(total)s") : "%(done)s of %(total)s";
      text.textContent = of.replace("%(done)s", data.progress.done).replace("%(total)s", data.progress.total);
    }
  }

  function poll(el) {
    fetch(el.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        update(el, data);
        var shown = el.dataset.reloadOnChange;
        if (shown && shown !== data.status) {
          window.location.reload();
          return;
        }
        if (WORKING.indexOf(data.status) !== -1) {
          window.setTimeout(function () { poll(el); }, POLL_MS);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(el); }, POLL_MS * 3); });
  }

  document.querySelectorAll("[data-status-url]").forEach(function (el) {
    window.setTimeout(function () { poll(el); }, POLL_MS);
  });
})();
