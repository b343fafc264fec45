// Dashboard filters: choosing a date means a custom period. The form works without it.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(".dash-filters input[type=date]")) return;
    var select = input.form && input.form.querySelector("select[name=period]");
    if (select) select.value = "custom";
  });
})();
