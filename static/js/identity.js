/*
  Dock — identity pages. Live countdowns for keys in their grace window:
  <time data-countdown datetime="2025-01-01T12:00:00+00:00">14 minutes</time>
  The server renders the starting text; this keeps it ticking. No inline code.
*/
(function () {
  "use strict";

  function format(ms) {
    if (ms <= 0) return "0 s (expired)";
    var total = Math.ceil(ms / 1000);
    var minutes = Math.floor(total / 60);
    var seconds = total % 60;
    if (minutes >= 60) {
      var hours = Math.floor(minutes / 60);
      return hours + " h " + (minutes % 60) + " min";
    }
    return minutes + " min " + (seconds < 10 ? "0" : "") + seconds + " s";
  }

  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll("time[data-countdown]");
    for (var i = 0; i < nodes.length; i++) {
      var end = Date.parse(nodes[i].getAttribute("datetime"));
      if (!isNaN(end)) nodes[i].textContent = format(end - now);
    }
  }

  tick();
  window.setInterval(tick, 1000);
})();
