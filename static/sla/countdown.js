// SLA countdowns on the sales queue and the lead page (templates/sla/_countdown.html).
// Each badge carries its due and warning instants, and for a business-hours clock the
// working minutes left when the server rendered it and when the current working span
// closes: the text ticks every 30 s without a request; when the state may have
// changed (warned, due, the span closed), the badge asks htmx for a fresh one.
(function () {
  "use strict";

  var TICK_MS = 30000;

  function words(el, minutes, down) {
    var units = (el.getAttribute("data-t-units") || "d,h,min").split(",");
    // Time left rounds up ("1 min left" until it is due); time spent rounds down.
    var value = Math.max(0, down ? Math.floor(minutes + 1e-9) : Math.ceil(minutes - 1e-9));
    var days = Math.floor(value / 1440);
    var hours = Math.floor((value % 1440) / 60);
    var mins = value % 60;
    if (days) return days + " " + units[0] + (hours ? " " + hours + " " + units[1] : "");
    if (hours) return hours + " " + units[1] + (mins ? " " + mins + " " + units[2] : "");
    return mins + " " + units[2];
  }

  function time(el, name) {
    var value = el.getAttribute(name);
    return value ? Date.parse(value) : NaN;
  }

  function refresh(el, reason) {
    if (el._refreshed === reason || !window.htmx) return;
    el._refreshed = reason;
    window.htmx.trigger(el, "sla-refresh");
  }

  function setState(el, state) {
    ["running", "warned", "overdue"].forEach(function (s) {
      el.classList.toggle("sla-clock--" + s, s === state);
    });
  }

  function tick(el) {
    var state = el.getAttribute("data-state");
    if (state !== "running" && state !== "warned" && state !== "overdue" && state !== "breached") return;
    if (!el._t0) el._t0 = Date.now();
    // "Now" on the server's clock: the render time plus what elapsed here since.
    var now = time(el, "data-at") + (Date.now() - el._t0);
    var due = time(el, "data-due");
    var text = el.querySelector("[data-sla-text]");
    if (state === "breached" || now >= due) {
      setState(el, "overdue");
      text.textContent = el.getAttribute("data-t-over").replace("{time}", words(el, (now - due) / 60000, true));
      // The scan breaches it within 30 s; once the server shows it overdue, no more asking.
      if (state === "running" || state === "warned") refresh(el, "due");
      return;
    }
    var left;
    if (el.getAttribute("data-business") === "1") {
      var pause = time(el, "data-pause");
      var counted = isNaN(pause) ? 0 : Math.min(now, pause) - time(el, "data-at");
      left = parseFloat(el.getAttribute("data-left")) - Math.max(0, counted) / 60000;
      if (!isNaN(pause) && now >= pause) refresh(el, "closed");
    } else {
      left = (due - now) / 60000;
    }
    if (now >= time(el, "data-warn")) {
      setState(el, "warned");
      if (state === "running") refresh(el, "warned");
    }
    text.textContent = el.getAttribute("data-t-left").replace("{time}", words(el, left));
  }

  function tickAll(root) {
    (root || document).querySelectorAll("[data-sla-clock]").forEach(tick);
  }

  document.addEventListener("DOMContentLoaded", function () { tickAll(document); });
  document.addEventListener("htmx:load", function (event) {
    var el = event.detail && event.detail.elt;
    if (!el || !el.querySelectorAll) return;
    if (el.matches && el.matches("[data-sla-clock]")) tick(el);
    tickAll(el);
  });
  setInterval(function () { tickAll(document); }, TICK_MS);
  // A tab that wakes up (laptop lid, background tab) catches up at once.
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) tickAll(document);
  });
})();
