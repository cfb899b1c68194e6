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

# The test-call page: microphone to the appliance over WebRTC, its voice back, the keypad and
# the running transcript over the "events" data channel. No STUN server: LAN only.
TESTCALL_JS = r"""
(function () {
  "use strict";
  var pc = null, channel = null, callId = null, mic = null;
  function el(id) { return document.getElementById(id); }
  function csrf() { return document.querySelector('meta[name="csrf-token"]').content; }
  function status(text) { el("tc-status").textContent = text; }
  function line(kind, text) {
    var li = document.createElement("li");
    li.className = "turn-" + kind;
    li.textContent = text;
    el("tc-log").appendChild(li);
  }
  function buttons(inCall) {
    el("tc-start").disabled = inCall;
    el("tc-hangup").disabled = !inCall;
    document.querySelectorAll("[data-dtmf]").forEach(function (b) { b.disabled = !inCall; });
  }
  function show(ev) {
    if (ev.type === "caller") { line("caller", "You: " + ev.text); }
    else if (ev.type === "agent") {
      line("agent", "Clinic: " + ev.text + (ev.approved ? "" : " [not from the approved protocol: phrasing]"));
    }
    else if (ev.type === "escalation") {
      line("escalation", "Would escalate: " + ev.severity + " (" + ev.category + "). Test call: nobody was paged.");
    } else if (ev.type === "transfer") {
      line("transfer", "Would transfer to " + ev.target + " (" + ev.kind + "). Test call: not placed.");
    } else if (ev.type === "ended") { line("ended", "Call ended: " + ev.outcome + "."); finish("Call ended."); }
  }
  function gathered(conn) {
    return new Promise(function (resolve) {
      if (conn.iceGatheringState === "complete") { resolve(); return; }
      conn.addEventListener("icegatheringstatechange", function () {
        if (conn.iceGatheringState === "complete") { resolve(); }
      });
      setTimeout(resolve, 5000);
    });
  }
  function finish(text) {
    if (mic) { mic.getTracks().forEach(function (t) { t.stop(); }); mic = null; }
    if (pc) { pc.close(); pc = null; }
    channel = null; callId = null;
    buttons(false);
    status(text);
  }
  async function start() {
    buttons(true);
    el("tc-log").textContent = "";
    status("Connecting...");
    try {
      mic = await navigator.mediaDevices.getUserMedia({audio: true});
      pc = new RTCPeerConnection({iceServers: []});
      channel = pc.createDataChannel("events");
      channel.onmessage = function (m) { show(JSON.parse(m.data)); };
      mic.getTracks().forEach(function (t) { pc.addTrack(t, mic); });
      pc.ontrack = function (ev) {
        var audio = el("tc-audio");
        audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
        audio.play().catch(function () {});
      };
      pc.onconnectionstatechange = function () {
        if (!pc) { return; }
        if (pc.connectionState === "connected") { status("Connected: speak now."); }
        if (pc.connectionState === "failed") { finish("The connection failed."); }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      var r = await fetch("/api/test-calls", {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
        body: JSON.stringify({type: "offer", sdp: pc.localDescription.sdp})});
      if (r.status === 401) { location.href = "/login?expired=1"; return; }
      var body = await r.json();
      if (!r.ok) { finish("Refused: " + body.detail + (body.fix ? " (" + body.fix + ")" : "")); return; }
      callId = body.id;
      await pc.setRemoteDescription({type: "answer", sdp: body.sdp});
    } catch (err) {
      finish("Could not start: " + err.message);
    }
  }
  function hangup() {
    var id = callId;
    if (channel && channel.readyState === "open") { channel.send(JSON.stringify({hangup: true})); }
    if (id) {
      fetch("/api/test-calls/" + encodeURIComponent(id), {method: "DELETE", credentials: "same-origin",
        headers: {"X-CSRF-Token": csrf()}});
    }
    finish("Call ended.");
  }
  document.addEventListener("DOMContentLoaded", function () {
    el("tc-start").addEventListener("click", start);
    el("tc-start").disabled = false;  // ready once the script runs
    el("tc-hangup").addEventListener("click", hangup);
    document.querySelectorAll("[data-dtmf]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (channel && channel.readyState === "open") {
          channel.send(JSON.stringify({dtmf: b.getAttribute("data-dtmf")}));
          line("caller", "You pressed " + b.getAttribute("data-dtmf"));
        }
      });
    });
  });
})();
"""
