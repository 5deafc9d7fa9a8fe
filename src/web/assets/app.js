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
(function () {
  "use strict";

  // Step 1 (and the settings page): a strength meter under a new password. The server's
  // rules decide; this only helps. Each meter names its input in data-strength-of.
  var words = ["Too short", "Weak", "Fair", "Good", "Strong"];
  Array.prototype.forEach.call(document.querySelectorAll("[data-strength-of]"), function (meter) {
    var password = document.getElementById(meter.dataset.strengthOf);
    if (!password) return;
    var update = function () {
      var value = password.value;
      var kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(function (re) {
        return re.test(value);
      }).length;
      var score = 0;
      if (value.length >= 10) {
        score = 1 + (kinds >= 2 ? 1 : 0) + (value.length >= 14 ? 1 : 0) + (kinds >= 3 ? 1 : 0);
      }
      meter.hidden = value.length === 0;
      meter.dataset.strength = String(score);
      meter.querySelector(".meter-label").textContent = "Strength: " + words[score];
    };
    password.addEventListener("input", update);
    update();
  });

  // Step 2: suggest the sandbox as soon as testing or learning is chosen; the other field
  // only when "something else" is.
  var useForm = document.getElementById("use-form");
  if (useForm) {
    var note = document.getElementById("sandbox-note");
    var confirm = document.getElementById("confirm_sandbox");
    var other = document.getElementById("other-field");
    var button = document.getElementById("continue");
    var sync = function () {
      var checked = useForm.querySelector("input[name=intended_use]:checked");
      var value = checked ? checked.value : "";
      var sandbox = value === "testing" || value === "learning";
      note.hidden = !sandbox;
      // Having seen the suggestion, going on means "continue anyway".
      confirm.value = sandbox ? "yes" : "";
      button.textContent = sandbox ? "Continue anyway" : "Continue";
      other.hidden = value !== "other";
    };
    useForm.addEventListener("change", sync);
    sync();
  }

  // Step 3: check the subdomain as it is typed, and offer free alternatives.
  var subdomainForm = document.getElementById("subdomain-form");
  if (subdomainForm) {
    var input = document.getElementById("subdomain");
    var status = document.getElementById("subdomain-status");
    var preview = document.getElementById("url-preview");
    var box = document.getElementById("suggestions");
    var list = box.querySelector("ul");
    var scheme = subdomainForm.dataset.scheme;
    var domain = subdomainForm.dataset.baseDomain;
    var timer = null;
    var asked = 0;
    var show = function (verdict) {
      var ok = verdict.status === "available";
      status.textContent = verdict.message;
      status.classList.toggle("is-error", !ok);
      status.classList.toggle("is-ok", ok);
      status.dataset.status = verdict.status;
      if (ok) input.removeAttribute("aria-invalid");
      else input.setAttribute("aria-invalid", "true");
      list.textContent = "";
      verdict.suggestions.forEach(function (name) {
        var item = document.createElement("li");
        var pick = document.createElement("button");
        pick.className = "btn btn-secondary btn-sm suggestion";
        pick.type = "submit";
        pick.name = "pick";
        pick.value = name;
        pick.textContent = name;
        item.appendChild(pick);
        list.appendChild(item);
      });
      box.hidden = verdict.suggestions.length === 0;
    };
    var check = function () {
      var value = input.value.trim();
      var code = preview.querySelector("code");
      code.textContent = scheme + "://" + (value || "your-lab") + "." + domain;
      if (!value) {
        status.textContent = "";
        box.hidden = true;
        return;
      }
      var mine = ++asked;
      fetch("/signup/subdomain/check?name=" + encodeURIComponent(value), {
        headers: { Accept: "application/json" },
        credentials: "same-origin"
      })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (verdict) {
          // Answers can arrive out of order; only the latest question counts.
          if (verdict && mine === asked) show(verdict);
        })
        .catch(function () { /* The check on submit still applies. */ });
    };
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 250);
    });
  }

  // Step 5: live progress over server-sent events.
  var deploy = document.getElementById("deploy");
  if (deploy && window.EventSource) {
    var failure = document.getElementById("deploy-failure");
    var failureText = document.getElementById("deploy-failure-text");
    var eta = document.getElementById("eta");
    var next = document.getElementById("deploy-next");
    var source = new EventSource(deploy.dataset.events);
    source.addEventListener("progress", function (event) {
      var progress = JSON.parse(event.data);
      progress.items.forEach(function (item) {
        var row = deploy.querySelector('.checklist-item[data-key="' + item.key + '"]');
        if (!row) return;
        row.classList.toggle("is-done", item.done);
        row.querySelector(".checklist-state").textContent = item.done ? "(done)" : "(in progress)";
      });
      eta.textContent = progress.eta ? "Time left: " + progress.eta + "." : "";
      failure.hidden = !progress.failure;
      failureText.textContent = progress.failure || "";
      if (progress.ready) {
        source.close();
        next.hidden = false;
        eta.textContent = "Done.";
        setTimeout(function () { window.location.assign(deploy.dataset.done); }, 1200);
      }
    });
  }
})();


// ---------- logs ----------
// The tenant logs page: filter as you type, and follow new lines over server-sent events.
// Lines are untrusted text: they are only ever put into the page with textContent.
(function () {
  "use strict";
  var root = document.getElementById("logs");
  if (!root) return;
  var box = document.getElementById("log-box");
  var list = document.getElementById("log-lines");
  var input = document.getElementById("q");
  var linesSelect = document.getElementById("lines");
  var count = document.getElementById("log-count");
  var empty = document.getElementById("log-empty");
  var download = document.getElementById("log-download");
  var clear = document.getElementById("log-clear");
  var live = document.getElementById("log-live");
  var state = document.getElementById("log-state");
  var detail = document.getElementById("log-state-detail");
  var follow = document.getElementById("log-follow");
  var jump = document.getElementById("log-jump");
  // The most lines kept in the page; older ones are dropped from the top (the download
  // still has them).
  var MAX_LINES = 12000;
  var after = root.dataset.after;
  var source = null;
  var retryTimer = null;
  var retryDelay = 2000;

  var needle = function () { return input.value.trim().toLowerCase(); };
  var matches = function (item, q) {
    if (!q) return true;
    return item.querySelector(".log-text").textContent.toLowerCase().indexOf(q) !== -1;
  };
  var atBottom = function () {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  };
  var toBottom = function () {
    box.scrollTop = box.scrollHeight;
    jump.hidden = true;
  };

  var updateCount = function () {
    var items = list.children;
    var shown = 0;
    for (var i = 0; i < items.length; i++) if (!items[i].hidden) shown++;
    var total = items.length;
    var noun = total === 1 ? "line" : "lines";
    count.textContent = total === 0 ? "No lines yet" : needle()
      ? "Showing " + shown + " of the last " + total + " " + noun
      : "Showing the last " + total + " " + noun;
    empty.hidden = shown > 0;
    empty.textContent = total === 0 ? empty.dataset.none : empty.dataset.nomatch;
  };

  // The filter applies at once; the address and the download link follow it, so a reload
  // or a download shows the same lines.
  var applyFilter = function () {
    var q = needle();
    var items = list.children;
    for (var i = 0; i < items.length; i++) items[i].hidden = !matches(items[i], q);
    var params = new URLSearchParams();
    params.set("lines", linesSelect.value);
    if (q) params.set("q", input.value.trim());
    download.href = root.dataset.download + "?" + params.toString();
    if (clear) clear.hidden = !q;
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + "?" + params.toString());
    }
    updateCount();
  };
  var filterTimer = null;
  input.addEventListener("input", function () {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, 80);
  });

  var render = function (line) {
    var item = document.createElement("li");
    item.className = "log-line log-" + (line.source === "stderr" ? "stderr" : "stdout");
    var time = document.createElement("time");
    time.className = "log-time";
    time.dateTime = line.stamp;
    time.title = line.fullTime;
    time.textContent = line.time;
    var src = document.createElement("span");
    src.className = "log-source log-source-" + (line.source === "stderr" ? "stderr" : "stdout");
    src.title = line.source;
    src.textContent = line.source === "stderr" ? "err" : "out";
    var text = document.createElement("span");
    text.className = "log-text";
    text.textContent = line.text;
    item.appendChild(time);
    item.appendChild(src);
    item.appendChild(text);
    return item;
  };

  var append = function (line) {
    var stick = atBottom();
    var item = render(line);
    item.hidden = !matches(item, needle());
    list.appendChild(item);
    while (list.children.length > MAX_LINES) list.removeChild(list.firstChild);
    updateCount();
    // Only a reader at the bottom is carried along; one reading further up stays put.
    if (stick) toBottom();
    else if (!item.hidden) jump.hidden = false;
  };

  var words = { connecting: "Connecting…", live: "Live", paused: "Paused", reconnecting: "Reconnecting…" };
  var setState = function (name, why) {
    state.dataset.state = name;
    state.querySelector(".log-state-word").textContent = words[name];
    detail.textContent = why || "";
  };

  var liveTimer = null;
  var connect = function () {
    clearTimeout(retryTimer);
    var es = new EventSource(root.dataset.stream + "?after=" + encodeURIComponent(after));
    source = es;
    es.addEventListener("open", function () {
      retryDelay = 2000;
      // A stopped container's stream opens and ends at once; only one that stays open is live.
      clearTimeout(liveTimer);
      liveTimer = setTimeout(function () { if (source === es) setState("live"); }, 300);
    });
    es.addEventListener("line", function (event) {
      var line = JSON.parse(event.data);
      if (line.stamp) after = line.stamp;
      append(line);
    });
    // The server ended the stream (the container stopped); the browser reconnects by itself.
    es.addEventListener("end", function (event) {
      clearTimeout(liveTimer);
      setState("reconnecting", event.data);
    });
    es.addEventListener("error", function () {
      if (source !== es) return;
      clearTimeout(liveTimer);
      if (es.readyState === EventSource.CLOSED) {
        // Refused (a server error, or logged out): try again later, more slowly each time.
        source = null;
        setState("reconnecting", "The connection was refused; trying again.");
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      } else if (state.dataset.state !== "reconnecting") {
        setState("reconnecting");
      }
    });
  };
  var pause = function () {
    clearTimeout(retryTimer);
    clearTimeout(liveTimer);
    if (source) source.close();
    source = null;
    setState("paused", "New lines are not shown until you follow again.");
  };

  follow.addEventListener("click", function () {
    var following = follow.getAttribute("aria-pressed") === "true";
    follow.setAttribute("aria-pressed", following ? "false" : "true");
    if (following) {
      pause();
    } else {
      setState("connecting");
      connect();
    }
  });
  jump.addEventListener("click", function () {
    toBottom();
    box.focus();
  });
  box.addEventListener("scroll", function () {
    if (atBottom()) jump.hidden = true;
  });

  toBottom();
  if (window.EventSource) {
    live.hidden = false;
    connect();
  }
})();


// ---------- dashboard, tenant detail, logs ----------
// (dashboard scripts go here)
(function () {
  "use strict";

  // Overview: filter the cards as the search is typed or the status chosen. Every card is
  // on the page (those the server filtered out are hidden), and the rules are the server's
  // (web/dashboard/filter.rs), so with or without this the same cards show.
  var filterForm = document.getElementById("tenant-filter");
  var cards = document.getElementById("tenant-cards");
  if (filterForm && cards) {
    var search = document.getElementById("q");
    var status = document.getElementById("status");
    var count = document.getElementById("tenant-count");
    var noMatch = document.getElementById("no-match");
    var total = cards.children.length;
    var apply = function () {
      var needle = search.value.trim().toLowerCase();
      var wanted = status.value;
      var shown = 0;
      Array.prototype.forEach.call(cards.children, function (card) {
        var found = card.dataset.name.toLowerCase().indexOf(needle) !== -1 ||
          card.dataset.url.toLowerCase().indexOf(needle) !== -1;
        var ok = (!needle || found) && (!wanted || card.dataset.status === wanted);
        card.hidden = !ok;
        if (ok) shown += 1;
      });
      count.textContent = "Showing " + shown + " of " + total + " study server" + (total === 1 ? "" : "s");
      noMatch.hidden = shown !== 0;
      // Keep the address shareable: the URL says what is shown.
      var params = new URLSearchParams();
      if (search.value.trim()) params.set("q", search.value.trim());
      if (wanted) params.set("status", wanted);
      var query = params.toString();
      history.replaceState(null, "", "/dashboard" + (query ? "?" + query : ""));
    };
    search.addEventListener("input", apply);
    status.addEventListener("change", apply);
  }

  // Tenant detail: live updates. Once a sample, fetch this page again and swap in the parts
  // marked data-live (status badge, usage and charts, conditions, events); the env form is
  // left alone so nothing being typed is lost. Without this, reloading shows the same.
  var detail = document.getElementById("tenant-detail");
  var refresh = detail ? Number(detail.dataset.refresh) : 0;
  if (detail && refresh > 0 && window.fetch && window.DOMParser) {
    var url = window.location.pathname;
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live][id]").forEach(function (part) {
            var next = fresh.getElementById(part.id);
            if (!next) return;
            part.className = next.className;
            part.innerHTML = next.innerHTML;
          });
        })
        .catch(function () { /* The next tick tries again. */ })
        .then(function () { busy = false; });
    }, refresh * 1000);
  }

  // Tenant detail: "Add another variable" appends a blank row (without JS, the form always
  // ends with one blank row, and saving adds the next).
  var add = document.getElementById("env-add");
  var rows = document.getElementById("env-rows");
  if (add && rows) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var last = rows.querySelector(".env-row:last-child");
      var index = Number(last.dataset.index) + 1;
      var row = last.cloneNode(true);
      row.dataset.index = String(index);
      row.classList.remove("has-error");
      row.querySelectorAll("[id], [name], [for], [aria-describedby]").forEach(function (el) {
        ["id", "name", "for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/^env-\d+-/, "env-" + index + "-"));
        });
        if (el.tagName === "INPUT") {
          if (el.type === "checkbox") el.checked = false;
          else el.value = "";
          el.removeAttribute("aria-invalid");
        }
      });
      var error = row.querySelector(".env-error");
      if (error) error.textContent = "";
      rows.appendChild(row);
      row.querySelector(".env-name").focus();
    });
  }
})();


// ---------- account pages ----------
// (the settings page's password meter is the signup wizard's, above: [data-strength-of])
