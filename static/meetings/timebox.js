// The meeting's 30-minute timebox: counts down from the moment the meeting started
// (data-started, ISO 8601), warns in the last 5 minutes, then counts the overtime.
// Also the printable page's "Print" button. No dependency, served from static/.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function format(seconds) {
    var s = Math.abs(Math.round(seconds));
    return (seconds < 0 ? "+" : "") + pad(Math.floor(s / 60)) + ":" + pad(s % 60);
  }

  function start(box) {
    var started = Date.parse(box.dataset.started);
    var minutes = parseInt(box.dataset.minutes || "30", 10);
    var clock = box.querySelector("[data-timebox-clock]");
    var over = box.querySelector("[data-timebox-over]");
    if (isNaN(started) || !clock) { return; }
    var end = started + minutes * 60 * 1000;
    function tick() {
      var left = (end - Date.now()) / 1000;
      clock.textContent = format(left);
      box.classList.toggle("timebox--warn", left > 0 && left <= 300);
      box.classList.toggle("timebox--over", left <= 0);
      if (over) { over.hidden = left > 0; }
    }
    tick();
    window.setInterval(tick, 1000);
  }

  function init() {
    document.querySelectorAll("[data-timebox]").forEach(start);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
