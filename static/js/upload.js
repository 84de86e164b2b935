// Uploads a study in resumable pieces (tus 1.0, through the vendored tus-js-client).
// Files come from the picker, a folder picker (a CD or USB stick) or drag-and-drop, folders
// included. While sending, the page shows percent, speed and time left; the button is disabled;
// Cancel stops and discards everything sent so far. A dropped connection is retried and resumes
// at the server's offset; after a reload, choosing the same files resumes them too.
// Without JavaScript the form still posts the files in one request.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.tus || !window.tus.isSupported) { return; }

  // Housekeeping files on CDs and in archives: never scans, never sent.
  var SKIPPED = ["dicomdir", ".ds_store", "thumbs.db", "desktop.ini", "autorun.inf"];
  var filesInput = document.getElementById("id_files");
  var folderInput = document.getElementById("id_folder");
  var zone = form.querySelector("[data-dropzone]");
  var chosenText = form.querySelector("[data-chosen]");
  var submit = form.querySelector("button[type=submit]");
  var panel = form.querySelector("[data-progress]");
  var bar = panel.querySelector("progress");
  var status = panel.querySelector("[data-progress-text]");
  var cancel = panel.querySelector("[data-cancel]");
  var errorBox = form.querySelector("[data-upload-error]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var chosen = [];
  var running = [];
  var cancelled = false;

  filesInput.required = false;

  function wanted(file, path) {
    var name = (path || file.name).split("/").pop().toLowerCase();
    return file.size > 0 && name.charAt(0) !== "." && SKIPPED.indexOf(name) === -1;
  }

  // The page's language (Django's JavaScriptCatalog, /jsi18n/); English if it did not load.
  var gettext = window.gettext || function (s) { return s; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\((\w+)\)s/g, function (m, key) { return String(obj[key]); });
  };
  function counted(words, n, values) {
    return interpolate(words, Object.assign({ count: n }, values || {}), true);
  }

  function size(bytes) {
    if (bytes >= 1073741824) { return (bytes / 1073741824).toFixed(1) + " GB"; }
    if (bytes >= 1048576) { return (bytes / 1048576).toFixed(1) + " MB"; }
    return Math.max(1, Math.round(bytes / 1024)) + " kB";
  }

  function duration(seconds) {
    if (!isFinite(seconds)) { return gettext("estimating"); }
    if (seconds < 60) {
      var s = Math.max(1, Math.round(seconds));
      return counted(ngettext("%(count)s second left", "%(count)s seconds left", s), s);
    }
    var m = Math.round(seconds / 60);
    return counted(ngettext("%(count)s minute left", "%(count)s minutes left", m), m);
  }

  function choose(files) {
    chosen = files.filter(function (f) { return wanted(f.file, f.path); });
    var total = chosen.reduce(function (sum, f) { return sum + f.file.size; }, 0);
    chosenText.textContent = chosen.length
      ? counted(ngettext("%(count)s file chosen (%(size)s)", "%(count)s files chosen (%(size)s)", chosen.length),
        chosen.length, { size: size(total) })
      : gettext("No scan files chosen.");
    errorBox.hidden = true;
  }

  function fromInput(input) {
    return Array.prototype.map.call(input.files, function (file) {
      return { file: file, path: file.webkitRelativePath || file.name };
    });
  }

  filesInput.addEventListener("change", function () { choose(fromInput(filesInput)); });
  if (folderInput) {
    folderInput.addEventListener("change", function () { choose(fromInput(folderInput)); });
  }

  // Drag-and-drop, walking dropped folders (FileSystemEntry API).
  function walk(entry, path, out) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { out.push({ file: file, path: path + file.name }); resolve(); },
                   function () { resolve(); });
        return;
      }
      var reader = entry.createReader();
      var all = [];
      (function more() {
        reader.readEntries(function (entries) {
          if (!entries.length) {
            Promise.all(all.map(function (e) { return walk(e, path + entry.name + "/", out); }))
              .then(resolve);
            return;
          }
          all = all.concat(Array.prototype.slice.call(entries));
          more();
        }, function () { resolve(); });
      })();
    });
  }

  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    var out = [];
    var items = e.dataTransfer.items ? Array.prototype.slice.call(e.dataTransfer.items) : [];
    var entries = items.map(function (i) { return i.webkitGetAsEntry && i.webkitGetAsEntry(); })
      .filter(Boolean);
    if (!entries.length) {
      choose(Array.prototype.map.call(e.dataTransfer.files, function (f) { return { file: f, path: f.name }; }));
      return;
    }
    Promise.all(entries.map(function (entry) { return walk(entry, "", out); }))
      .then(function () { choose(out); });
  });

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function busy(on) {
    submit.disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    panel.hidden = !on;
    filesInput.disabled = on;
    if (folderInput) { folderInput.disabled = on; }
  }

  function refusal(err) {
    var body = err && err.originalResponse && err.originalResponse.getBody();
    try { return JSON.parse(body).detail; } catch (e) { return ""; }
  }

  function sendOne(item, sent, onProgress) {
    return new Promise(function (resolve, reject) {
      var upload = new window.tus.Upload(item.file, {
        endpoint: form.dataset.tusEndpoint,
        chunkSize: parseInt(form.dataset.chunkSize, 10),
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        // Names identify: the server ignores metadata, and none is sent.
        metadata: {},
        removeFingerprintOnSuccess: true,
        headers: { "X-CSRFToken": csrf },
        onProgress: function (done) { sent[item.index] = done; onProgress(); },
        onSuccess: function () { resolve(upload.url.replace(/\/$/, "").split("/").pop()); },
        onError: function (err) { reject(err); },
      });
      running.push(upload);
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) { upload.resumeFromPreviousUpload(previous[0]); }
        if (!cancelled) { upload.start(); }
      });
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!chosen.length) { showError(gettext("Choose scan files or a folder first.")); return; }
    cancelled = false;
    running = [];
    busy(true);
    var total = chosen.reduce(function (sum, f) { return sum + f.file.size; }, 0);
    var sent = chosen.map(function () { return 0; });
    var started = Date.now();
    function onProgress() {
      var done = sent.reduce(function (a, b) { return a + b; }, 0);
      var seconds = (Date.now() - started) / 1000;
      var speed = seconds > 0 ? done / seconds : 0;
      var percent = total ? Math.floor((100 * done) / total) : 0;
      bar.value = percent;
      status.textContent = percent + "% · " +
        interpolate(gettext("%(done)s of %(total)s"), { done: size(done), total: size(total) }, true) + " · " +
        (speed > 0 ? size(speed) + "/s · " + duration((total - done) / speed) : gettext("starting"));
    }
    status.textContent = gettext("Starting…");
    // One file at a time keeps the order and the load on a slow link simple.
    var ids = [];
    chosen.reduce(function (previous, item, index) {
      item.index = index;
      return previous.then(function () {
        return sendOne(item, sent, onProgress).then(function (id) { ids.push(id); });
      });
    }, Promise.resolve())
      .then(function () {
        status.textContent = gettext("Checking the files…");
        return fetch(form.dataset.finishUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
          body: JSON.stringify({ uploads: ids }),
        });
      })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw { detail: body.detail }; }
          window.location.assign(body.url);
        });
      })
      .catch(function (err) {
        busy(false);
        if (cancelled) { return; }
        showError((err && err.detail) || refusal(err) ||
          gettext("The upload stopped. Check your connection and press the button again: it resumes where it stopped."));
      });
  });

  cancel.addEventListener("click", function () {
    cancelled = true;
    running.forEach(function (upload) { upload.abort(true); });
    busy(false);
    chosenText.textContent = gettext("Upload cancelled; nothing was kept. Choose files to start again.");
  });
})();
