// Times of <time data-local-time> elements in the reader's language and in the zone the server
// rendered them in (the account's, named on <html data-time-zone>), with the zone's name.
(function () {
  "use strict";
  var root = document.documentElement;
  var options = { dateStyle: "medium", timeStyle: "short" };
  var zone = root.getAttribute("data-time-zone");
  var format;
  try {
    format = new Intl.DateTimeFormat(root.lang || undefined, zone ? Object.assign({ timeZone: zone }, options) : options);
  } catch (e) {
    return;  // an unknown zone: keep the server's text, which names its zone
  }
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) { el.textContent = format.format(when) + " " + (zone || "UTC"); }
  });
})();
