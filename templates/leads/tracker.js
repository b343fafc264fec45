{% comment %}
The website tracker, served per organization at /t/<public key>.js (docs/tracker.md).
Self-contained, no dependency, kept under 5 KB. Context: collect_url_json (a JSON string: this file is
never inlined in HTML), consent_required.
{% endcomment %}/* Smarketing tracker — docs: /docs/tracker.md */
(function (w, d) {
  "use strict";
  var URL_ = {{ collect_url_json|safe }}, NEEDS_CONSENT = {{ consent_required|yesno:"true,false" }};
  var VID = "smk_vid", OPTOUT = "smk_optout", MAX_AGE = 34128000; /* 13 months */
  /* pending: waiting for consent (nothing stored, nothing sent); on; off (opted out) */
  var state = NEEDS_CONSENT ? "pending" : "on", consented = false, vid = null, queue = [];
  if (w.__smarketing) return; /* the snippet pasted twice */
  w.__smarketing = true;

  function rnd() {
    var a = new Uint8Array(16), s = "", i;
    (w.crypto || w.msCrypto).getRandomValues(a);
    for (i = 0; i < a.length; i++) s += ("0" + a[i].toString(16)).slice(-2);
    return s;
  }
  function cookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([A-Za-z0-9_-]{1,64})"));
    return m ? m[1] : null;
  }
  function setCookie(name, value, age) {
    d.cookie = name + "=" + value + "; path=/; max-age=" + age + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  function store(v) {
    setCookie(VID, v, MAX_AGE);
    try { w.localStorage.setItem(VID, v); } catch (e) {}
  }
  function forget() {
    setCookie(VID, "", 0);
    try { w.localStorage.removeItem(VID); } catch (e) {}
    vid = null;
  }
  function visitor() {
    if (!vid) {
      var ls = null;
      try { ls = w.localStorage.getItem(VID); } catch (e) {}
      vid = cookie(VID) || (/^[A-Za-z0-9_-]{8,64}$/.test(ls || "") ? ls : null) || rnd();
      store(vid);
    }
    return vid;
  }
  function post(body, retry) {
    if (w.fetch) {
      w.fetch(URL_, { method: "POST", body: body, keepalive: true, credentials: "omit",
        headers: { "Content-Type": "text/plain" } }).catch(function () {
        /* same ids: a retry is never counted twice */
        if (retry) setTimeout(function () { post(body, false); }, 3000);
      });
    } else if (navigator.sendBeacon) {
      navigator.sendBeacon(URL_, body);
    }
  }
  function send(events, leaving) {
    var body = JSON.stringify({ v: 1, consent: consented, visitor_id: visitor(), events: events });
    /* a page being left: the beacon survives the navigation */
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(URL_, body)) return;
    post(body, true);
  }
  function track(type, extra, leaving) {
    if (state === "off") return;
    var e = { id: rnd(), type: type, ts: Date.now(), url: location.href }, k;
    for (k in extra) if (Object.prototype.hasOwnProperty.call(extra, k)) e[k] = extra[k];
    if (state === "on") send([e], leaving);
    else if (queue.length < 20) queue.push(e); /* in memory only, until consent */
  }
  function page() {
    track("page_view", { title: d.title, referrer: d.referrer });
  }
  function consent(yes) {
    if (yes) {
      consented = true;
      state = "on";
      setCookie(OPTOUT, "", 0);
      if (queue.length) send(queue.splice(0, queue.length));
    } else {
      consented = false;
      state = "off";
      queue = [];
      forget();
      setCookie(OPTOUT, "1", MAX_AGE);
    }
  }
  /* Identification: only forms that opt in with data-smarketing-identify. */
  d.addEventListener("submit", function (ev) {
    var f = ev.target, email, fields = {}, els, i, el;
    if (!f || !f.hasAttribute || !f.hasAttribute("data-smarketing-identify")) return;
    email = f.querySelector("input[type=email], input[name=email]");
    if (!email || !email.value || email.value.indexOf("@") < 1) return;
    els = f.querySelectorAll("[data-smarketing-field]");
    for (i = 0; i < els.length; i++) {
      el = els[i];
      if (el.value) fields[el.getAttribute("data-smarketing-field")] = String(el.value).slice(0, 200);
    }
    track("form_submit", { email: email.value.trim(), fields: fields, title: d.title,
      form: f.getAttribute("data-smarketing-identify") || f.id || f.getAttribute("name") || "" }, true);
  }, true);

  function api(cmd, a, b) {
    if (cmd === "consent") consent(a === true || a === "granted");
    else if (cmd === "page") page();
    else if (cmd === "track" && typeof a === "string") track("custom:" + a, b ? { properties: b } : {});
  }
  var early = (w.smarketing && w.smarketing.q) || [], i;
  w.smarketing = function () { api.apply(null, arguments); };
  if (cookie(OPTOUT)) state = "off";
  /* calls made before the script loaded (the stub's queue), then the first page view */
  for (i = 0; i < early.length; i++) api.apply(null, early[i]);
  page();
})(window, document);
