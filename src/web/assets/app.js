// tenantd: progressive enhancement only. Every page works without this file; it adds
// conveniences (and, in later steps, live updates over server-sent events).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // A form submitted twice by an impatient double click sends one request.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitting === "true") {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "true";
    var button = form.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-disabled", "true");
  });
})();

// ---------- signup wizard ----------
// (signup scripts go here)


// ---------- dashboard, tenant detail, logs ----------
// (dashboard scripts go here)


// ---------- account pages ----------
// (account scripts go here)
