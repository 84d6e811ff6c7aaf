// The Slack sandbox client's script. The pages work without it; it only submits the forms in
// place (no full reload) and swaps in the live part of the page when the server's event
// stream says it changed. Served as a first-party file: the CSP allows no inline script.
(function () {
  "use strict";

  var root = document.getElementById("client");
  if (!root) {
    return;
  }
  var viewUrl = root.getAttribute("data-view");
  var eventsUrl = root.getAttribute("data-events");
  var view = document.getElementById("view");
  var notice = document.getElementById("notice");
  var live = document.getElementById("live");
  var refreshing = null;
  // A change reported while a refresh is in flight: fetch once more when it lands.
  var again = false;

  function messageCount() {
    var inner = view.firstElementChild;
    return inner ? Number(inner.getAttribute("data-messages") || 0) : 0;
  }

  // Fetches the live part and swaps it in. When the change came from elsewhere (`announce`),
  // tells screen readers what arrived; after the person's own act the notice says enough.
  function refresh(announce) {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    var before = messageCount();
    refreshing = fetch(viewUrl, { headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        view.innerHTML = html;
        if (announce !== true) {
          return;
        }
        var added = messageCount() - before;
        if (added > 0) {
          live.textContent = added === 1 ? "1 new message" : added + " new messages";
        } else {
          live.textContent = "Your status or a call changed";
        }
      })
      .catch(function () {
        live.textContent = "Could not refresh; reload the page.";
      })
      .then(function () {
        refreshing = null;
        if (again) {
          again = false;
          refresh(true);
        }
      });
    return refreshing;
  }

  // Any POST form on the page, including the buttons inside the live part.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") {
      return;
    }
    event.preventDefault();
    var data = new FormData(form, event.submitter || null);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    notice.textContent = "Sending…";
    fetch(form.action, {
      method: "POST",
      headers: { "X-Requested-With": "fetch" },
      body: new URLSearchParams(data),
    })
      .then(function (response) {
        return response.text().then(function (text) {
          notice.textContent = text;
          if (response.ok && form.hasAttribute("data-reset")) {
            var input = form.querySelector("input[name=text]");
            if (input) {
              input.value = "";
              input.focus();
            }
          }
        });
      })
      .catch(function () {
        notice.textContent = "The sandbox could not be reached.";
      })
      .then(function () {
        buttons.forEach(function (b) { b.disabled = false; });
        return refresh(false);
      });
  });

  if (window.EventSource && eventsUrl) {
    var source = new EventSource(eventsUrl);
    source.addEventListener("change", function () {
      refresh(true);
    });
    // The stream ends now and then and reconnects: catch up on anything missed meanwhile.
    source.addEventListener("open", function () {
      refresh(false);
    });
  }
})();
