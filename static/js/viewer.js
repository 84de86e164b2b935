// A small canvas viewer, one per series: scroll through slices (wheel, arrow keys, slider),
// zoom (buttons, Ctrl+wheel) and pan (drag), CT window presets, blacked-out areas shown or hidden,
// and the owner's original beside the sanitized copy. A multi-frame image (a cine loop, an
// enhanced CT) is stepped through frame by frame with the same slider, wheel and keys. Pictures are rendered by the gateway
// (sanitized copies only, in the chosen window); nothing is loaded from anywhere else.
(function () {
  "use strict";

  // Words from the gateway's own JavaScript catalogue (/jsi18n/), English without it.
  var gettext = window.gettext || function (text) { return text; };

  function Viewer(root) {
    var data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
    var canvas = root.querySelector("canvas");
    var ctx = canvas.getContext("2d");
    var slider = root.querySelector("[data-slice]");
    var label = root.querySelector("[data-slice-label]");
    var boxes = root.querySelector("[data-boxes]");
    var original = root.querySelector("[data-original]");
    // Every picture the series holds, in order: one per slice, or one per frame of a
    // multi-frame image ({slice, frame}; frame is null for a single-frame image).
    var views = [];
    data.slices.forEach(function (slice, i) {
      var frames = slice.frames || 1;
      if (frames === 1 || !data.dicom) { views.push({ slice: i, frame: null }); return; }
      for (var f = 0; f < frames; f++) { views.push({ slice: i, frame: f }); }
    });
    var state = {
      index: Math.floor((views.length - 1) / 2),
      window: data.window,
      zoom: 1,
      panX: 0,
      panY: 0,
      // Fine-tuning on top of the chosen window, by dragging: brightness and contrast in percent.
      brightness: 100,
      contrast: 100,
    };
    var cache = {};

    function url(i) {
      var view = views[i];
      var slice = data.slices[view.slice];
      var base = data.base + slice.id;
      if (original && original.checked && slice.original) { return base + "/original.png"; }
      if (!data.dicom) { return base + "/preview.png"; }
      var query = [];
      if (boxes && boxes.checked) { query.push("boxes=1"); }
      if (view.frame !== null) { query.push("frame=" + view.frame); }
      return base + "/window/" + state.window + ".png" + (query.length ? "?" + query.join("&") : "");
    }

    function picture(i) {
      var key = url(i);
      if (!cache[key]) {
        cache[key] = new Image();
        cache[key].onload = function () { if (url(state.index) === key) { draw(); } };
        cache[key].src = key;
      }
      return cache[key];
    }

    function preload() {
      for (var d = 1; d <= 4; d++) {
        if (state.index + d < views.length) { picture(state.index + d); }
        if (state.index - d >= 0) { picture(state.index - d); }
      }
    }

    function draw() {
      var img = picture(state.index);
      var width = canvas.clientWidth;
      var height = Math.round(width * (img.naturalHeight && img.naturalWidth ? img.naturalHeight / img.naturalWidth : 1));
      var ratio = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
        // The CSS height follows the backing store's proportions (height: auto).
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(height * ratio);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (!img.complete || !img.naturalWidth) { return; }
      var scale = state.zoom * ratio * width / img.naturalWidth;
      var w = img.naturalWidth * scale;
      var h = img.naturalHeight * scale;
      ctx.imageSmoothingEnabled = state.zoom < 2;
      ctx.filter = "brightness(" + state.brightness + "%) contrast(" + state.contrast + "%)";
      ctx.drawImage(img, (canvas.width - w) / 2 + state.panX * ratio, (canvas.height - h) / 2 + state.panY * ratio, w, h);
    }

    function show(i) {
      state.index = Math.max(0, Math.min(views.length - 1, i));
      slider.value = state.index + 1;
      var view = views[state.index];
      var slice = data.slices[view.slice];
      var words;
      if (view.frame === null) {
        words = gettext("Slice %(slice)s of %(slices)s (image %(position)s)");
      } else if (data.slices.length > 1) {
        words = gettext("Slice %(slice)s of %(slices)s, frame %(frame)s of %(frames)s (image %(position)s)");
      } else {
        words = gettext("Frame %(frame)s of %(frames)s (image %(position)s)");
      }
      label.textContent = words.replace("%(slice)s", view.slice + 1)
        .replace("%(slices)s", data.slices.length).replace("%(position)s", slice.position)
        .replace("%(frame)s", view.frame === null ? "" : view.frame + 1)
        .replace("%(frames)s", slice.frames || "");
      root.dataset.shown = slice.id;
      root.dataset.frame = view.frame === null ? "" : String(view.frame);
      root.dataset.src = url(state.index);
      draw();
      preload();
    }

    function zoom(factor) {
      state.zoom = Math.max(1, Math.min(8, state.zoom * factor));
      if (state.zoom === 1) { state.panX = state.panY = 0; }
      draw();
    }

    slider.max = views.length;
    slider.addEventListener("input", function () { show(parseInt(slider.value, 10) - 1); });
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      if (e.ctrlKey) { zoom(e.deltaY < 0 ? 1.25 : 0.8); return; }
      show(state.index + (e.deltaY > 0 ? 1 : -1));
    }, { passive: false });
    canvas.addEventListener("keydown", function (e) {
      var step = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 }[e.key];
      if (step) { e.preventDefault(); show(state.index + step); }
      if (e.key === "Home") { e.preventDefault(); show(0); }
      if (e.key === "End") { e.preventDefault(); show(views.length - 1); }
      if (e.key === "+" || e.key === "=") { zoom(1.25); }
      if (e.key === "-") { zoom(0.8); }
    });
    // Zoomed in, a drag pans; at full view (or with Shift), it fine-tunes the window:
    // up and down for brightness (level), left and right for contrast (width).
    var drag = null;
    canvas.addEventListener("pointerdown", function (e) {
      var tune = state.zoom === 1 || e.shiftKey;
      if (tune && e.pointerType === "touch") { return; }  // a finger scrolls the page
      drag = { tune: tune, x: e.clientX, y: e.clientY, panX: state.panX, panY: state.panY,
               brightness: state.brightness, contrast: state.contrast };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x;
      var dy = e.clientY - drag.y;
      if (drag.tune) {
        state.brightness = Math.max(20, Math.min(300, drag.brightness - dy / 2));
        state.contrast = Math.max(20, Math.min(400, drag.contrast + dx / 2));
      } else {
        state.panX = drag.panX + dx;
        state.panY = drag.panY + dy;
      }
      draw();
    });
    canvas.addEventListener("pointerup", function () { drag = null; });
    root.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var f = button.dataset.zoom;
        if (f === "reset") {
          state.zoom = 1; state.panX = state.panY = 0; state.brightness = state.contrast = 100; draw();
        } else { zoom(parseFloat(f)); }
      });
    });
    root.querySelectorAll("[data-window]").forEach(function (button) {
      button.addEventListener("click", function () {
        state.window = button.dataset.window;
        state.brightness = state.contrast = 100;
        root.querySelectorAll("[data-window]").forEach(function (b) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        });
        root.dataset.window = state.window;
        show(state.index);
      });
    });
    [boxes, original].forEach(function (box) {
      if (box) { box.addEventListener("change", function () { show(state.index); }); }
    });
    window.addEventListener("resize", draw);
    root.dataset.window = state.window;
    show(state.index);
    root.classList.add("ready");
  }

  document.querySelectorAll("[data-viewer]").forEach(function (root) { Viewer(root); });
})();
