// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  function toast(message) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    clearTimeout(el._timer);
    el._timer = setTimeout(function () { el.hidden = true; }, 5000);
  }

  // Copy buttons: <button data-copy="input-id" data-copied="Copied">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || label;
      button.classList.add("is-copied");
      setTimeout(function () {
        button.textContent = label;
        button.classList.remove("is-copied");
      }, 2000);
    };
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        document.execCommand("copy");
        done();
      });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Forms that destroy something: <form data-confirm="Sure?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Menus (<details data-menu>): close on outside click and on Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  // htmx: refused or failed requests are not swapped; say so instead of doing nothing.
  // The (translated) texts come from the toast element's data attributes.
  function text(name) {
    var el = document.getElementById("toast");
    return (el && el.getAttribute("data-" + name)) || "";
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    toast(text(status === 403 ? "forbidden" : status === 404 ? "not-found" : "error"));
  });
  document.addEventListener("htmx:sendError", function () {
    toast(text("offline"));
  });
})();
