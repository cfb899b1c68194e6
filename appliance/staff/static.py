"""The console's only script: live updates over SSE, deadline countdowns. Plain JavaScript,
served from the appliance itself (the Content-Security-Policy allows no inline or remote code)."""

CONSOLE_JS = r"""
(function () {
  "use strict";
  var BG = {headers: {"X-Console-Background": "1"}, credentials: "same-origin"};
  function refresh(id, url) {
    var el = document.getElementById(id);
    if (!el) { return; }
    fetch(url, BG).then(function (r) {
      if (r.status === 401 || r.redirected) { location.href = "/login?expired=1"; return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) { if (html !== null && html !== undefined) { el.innerHTML = html; tick(); } });
  }
  function fmt(mins) { return mins >= 120 ? Math.round(mins / 60) + " h" : mins + " min"; }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var left = Math.round((parseFloat(el.getAttribute("data-deadline")) - now) / 60);
      el.textContent = left >= 0 ? "due in " + fmt(left) : "overdue by " + fmt(-left);
      el.className = left >= 0 ? "" : "overdue";
    });
  }
  function banner(text) {
    var b = document.getElementById("live-banner");
    if (b) { b.textContent = text; b.hidden = false; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 10000);
    if (!document.querySelector("[data-live]") || !window.EventSource) { return; }
    var es = new EventSource("/api/events");
    es.addEventListener("logout", function () { es.close(); location.href = "/login?expired=1"; });
    ["escalation.raised", "escalation.acknowledged", "escalation.resolved", "escalation.paged"].forEach(function (t) {
      es.addEventListener(t, function (ev) {
        refresh("esc-body", "/escalations/table");
        refresh("calls-body", "/calls/table");
        if (t === "escalation.raised") {
          var d = JSON.parse(ev.data);
          banner("New " + d.severity + " escalation (" + d.category + ")");
        }
      });
    });
    ["call.summary", "summary.reviewed"].forEach(function (t) {
      es.addEventListener(t, function () { refresh("sum-body", "/summaries/table"); refresh("calls-body", "/calls/table"); });
    });
    // Calls start and end without an outbox message: the live-calls table also refreshes itself.
    if (document.getElementById("calls-body")) { setInterval(function () { refresh("calls-body", "/calls/table"); }, 5000); }
  });
})();
"""
