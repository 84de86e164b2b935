// Keeps scan status and progress current without a page reload.
// Each element with data-status-url is polled and its label (a live region) announces the new
// status. Only when a scan on a detail page moves to another stage (cleaning, review, sending,
// answered...) does the page reload to show the new content; the focused control keeps focus.
(function () {
  "use strict";
  var WORKING = ["uploaded", "queued", "deidentifying", "consented", "sending"];
  var POLL_MS = 2000;
  // Statuses that show the same page: a change within a stage is announced, not reloaded.
  var STAGES = { uploaded: "cleaning", queued: "cleaning", deidentifying: "cleaning",
                 consented: "sending", sending: "sending" };
  var FOCUS_KEY = "status-focus:" + window.location.pathname;

  function stage(status) { return STAGES[status] || status; }

  // Where the focus is, as a selector that finds the same control after the reload.
  function focusedSelector() {
    var e = document.activeElement;
    if (!e || e === document.body) { return ""; }
    if (e.id) { return "#" + CSS.escape(e.id); }
    if (e.tagName === "A" && e.getAttribute("href")) { return 'a[href="' + CSS.escape(e.getAttribute("href")) + '"]'; }
    if (e.name) { return e.tagName.toLowerCase() + '[name="' + CSS.escape(e.name) + '"]'; }
    return "";
  }

  function reload() {
    try {
      var selector = focusedSelector();
      if (selector) { window.sessionStorage.setItem(FOCUS_KEY, selector); }
    } catch (e) { /* storage refused: focus starts at the top */ }
    window.location.reload();
  }

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
        if (shown && stage(shown) !== stage(data.status)) {
          reload();
          return;
        }
        if (WORKING.indexOf(data.status) !== -1) {
          window.setTimeout(function () { poll(el); }, POLL_MS);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(el); }, POLL_MS * 3); });
  }

  try {
    var focused = window.sessionStorage.getItem(FOCUS_KEY);
    window.sessionStorage.removeItem(FOCUS_KEY);
    var target = focused && document.querySelector(focused);
    if (target) { target.focus(); }
  } catch (e) { /* nothing to restore */ }

  document.querySelectorAll("[data-status-url]").forEach(function (el) {
    window.setTimeout(function () { poll(el); }, POLL_MS);
  });
})();
