// The open-space TV: rotate the panels and refresh their figures, unattended.
//
// Every panel (<section data-tv-panel data-url="...">) is fetched again every
// data-refresh seconds. A failed fetch (network down, server restarting, 5xx) keeps
// the figures on screen and, once the last good refresh is older than two periods,
// marks the screen stale ("updated at 14:05" stays visible so nobody trusts old
// numbers). A 404 means the screen's token was revoked: say so instead of figures.
// No library, no CDN; works on the old browser a TV stick ships with.
(function () {
  "use strict";

  var root = document.querySelector("[data-tv]");
  if (!root) return;
  var panels = Array.prototype.slice.call(root.querySelectorAll("[data-tv-panel]"));
  var dots = Array.prototype.slice.call(root.querySelectorAll("[data-tv-dot]"));
  var status = root.querySelector("[data-tv-status]");
  var title = root.querySelector("[data-tv-title]");
  var clock = root.querySelector("[data-tv-clock]");
  var rotateSeconds = parseInt(root.getAttribute("data-rotate"), 10) || 20;
  var refreshSeconds = parseInt(root.getAttribute("data-refresh"), 10) || 30;
  var timeZone = root.getAttribute("data-time-zone") || undefined;
  var lang = document.documentElement.lang || "fr";
  var lastGood = Date.now();
  var lastUpdated = root.getAttribute("data-updated") || "";
  var current = 0;
  var failures = 0;

  function hhmm(date) {
    try {
      return date.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: timeZone });
    } catch (e) {
      return date.toTimeString().slice(0, 5);
    }
  }

  function text(name, value) {
    return (root.getAttribute("data-text-" + name) || "").replace("%s", value);
  }

  function showStatus() {
    // Stale after two failed refreshes in a row, or when the last good one is too old
    // (a tab the TV's browser throttled).
    var stale = failures >= 2 || Date.now() - lastGood > refreshSeconds * 2500;
    root.classList.toggle("is-stale", stale);
    if (status) {
      status.textContent = stale ? text("stale", lastUpdated) : text("updated", lastUpdated);
    }
  }

  function show(index) {
    if (!panels.length) return;
    current = (index + panels.length) % panels.length;
    panels.forEach(function (panel, i) {
      var on = i === current;
      panel.hidden = !on;
      panel.setAttribute("aria-hidden", on ? "false" : "true");
    });
    dots.forEach(function (dot, i) {
      dot.classList.toggle("is-current", i === current);
    });
    if (title) title.textContent = panels[current].getAttribute("data-title") || "";
  }

  function disconnected() {
    root.classList.add("is-revoked");
    var message = root.querySelector("[data-tv-revoked]");
    if (message) message.hidden = false;
  }

  function fetchPanel(panel) {
    var url = panel.getAttribute("data-url");
    if (!url || !window.fetch) return Promise.resolve(true);
    return fetch(url, {
      cache: "no-store",
      credentials: "omit",
      headers: { "X-Requested-With": "tv" },
    })
      .then(function (response) {
        if (response.status === 404) {
          disconnected();
          return false;
        }
        if (!response.ok) return false;
        return response.text().then(function (html) {
          // Parse first: a half-received or empty body never replaces good figures.
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("[data-tv-body]");
          var body = panel.querySelector("[data-tv-body]");
          if (!fresh || !body) return false;
          body.parentNode.replaceChild(fresh, body);
          var updated = fresh.getAttribute("data-updated");
          if (updated) lastUpdated = updated;
          return true;
        });
      })
      .catch(function () {
        return false;
      });
  }

  function refreshOnce() {
    return Promise.all(panels.map(fetchPanel)).then(function (results) {
      var ok = results.every(Boolean);
      if (ok) {
        lastGood = Date.now();
        failures = 0;
      } else {
        failures += 1;
      }
      showStatus();
      return ok;
    });
  }

  function loop() {
    refreshOnce().then(function (ok) {
      // Back off a little while the network is down, never beyond two minutes.
      var wait = ok ? refreshSeconds : Math.min(refreshSeconds * (1 + failures), 120);
      window.setTimeout(loop, wait * 1000);
    });
  }

  function tick() {
    if (clock) clock.textContent = hhmm(new Date());
    showStatus();
  }

  // A full reload a few times a day picks up new code, but only when the server
  // answers: reloading into an error page would leave the screen blank.
  function reloadWhenReachable() {
    fetch(window.location.href, { method: "HEAD", cache: "no-store", credentials: "omit" })
      .then(function (response) {
        if (response.ok) window.location.reload();
      })
      .catch(function () {});
  }

  window.smarketingTv = { refresh: refreshOnce, show: show }; // for the browser test
  show(0);
  tick();
  window.setInterval(function () {
    show(current + 1);
  }, rotateSeconds * 1000);
  window.setInterval(tick, 10000);
  window.setTimeout(loop, refreshSeconds * 1000);
  window.setInterval(reloadWhenReachable, 6 * 3600 * 1000);
  document.addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight") show(current + 1);
    if (event.key === "ArrowLeft") show(current - 1);
  });
})();
