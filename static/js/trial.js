/* Participant pages: minimum window size, submit-once forms, and the trial page.
 *
 * Trial page: the response time runs from the moment every stimulus image is decoded and drawn
 * (performance.now after the next animation frame) to the answer. The answer goes by fetch with a
 * client-generated idempotency key; on a network error or a 5xx it is retried with the SAME key
 * while a short "Reconnecting…" message shows, so the server records it exactly once. The next
 * trial's images are preloaded. The number keys shown on the options answer.
 *
 * Every kind's page keeps one contract: each question is [data-testid=question][data-name], its
 * options [data-testid=option][data-value]. With one question a click (or its key) answers; with
 * several, clicks (or keys, filling the first question not yet answered) select, and
 * [data-testid=submit-answer] (or Enter) sends once every question has an answer.
 * Without JavaScript the page is a plain form POST (the server put a fresh key in the form).
 * Its messages come from the status box's data attributes, in the page's language.
 */
(function () {
  "use strict";

  // --- Minimum window size -------------------------------------------------------------------
  var sized = document.querySelector("[data-min-width]");
  var warning = document.getElementById("window-warning");
  function windowOk() {
    if (!sized || !warning) return true;
    var ok = window.innerWidth >= Number(sized.dataset.minWidth || 0) &&
             window.innerHeight >= Number(sized.dataset.minHeight || 0);
    warning.hidden = ok;
    return ok;
  }
  windowOk();
  window.addEventListener("resize", windowOk);

  // --- Forms submitted once (consent, questionnaire) -----------------------------------------
  Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (f) {
    f.addEventListener("submit", function (event) {
      if (f.dataset.sent) { event.preventDefault(); return; }
      f.dataset.sent = "1";
    });
  });

  // A page restored from the back/forward cache may show an answered trial: fetch the current one.
  window.addEventListener("pageshow", function (event) { if (event.persisted) window.location.reload(); });

  // --- Trial page ------------------------------------------------------------------------------
  var form = document.getElementById("trial-form");
  if (!form) return;
  var buttons = Array.prototype.slice.call(form.querySelectorAll("button[data-testid=option], button[data-testid=submit-answer]"));
  var questions = Array.prototype.slice.call(form.querySelectorAll("[data-testid=question]"));
  var submitButton = form.querySelector("[data-testid=submit-answer]");
  var multi = questions.length > 1;
  var statusBox = document.getElementById("trial-status");
  var shownAt = null;
  var sending = false;
  var preloaded = [];

  function answered(q) { return !!form.elements[q.dataset.name] && form.elements[q.dataset.name].value !== ""; }
  function allAnswered() { return questions.every(answered); }
  function setButtons(enabled) {
    buttons.forEach(function (b) { b.disabled = !enabled; });
    if (submitButton && enabled) submitButton.disabled = !allAnswered();
    // The buttons are enabled in the HTML (so that the page works without JavaScript): "ready"
    // tells a page driver that this script has run and the answer will be timed and sent by it.
    form.toggleAttribute("data-ready", enabled);
  }
  function say(text, isError) {
    statusBox.textContent = text;
    statusBox.hidden = !text;
    statusBox.classList.toggle("error", !!isError);
  }

  setButtons(false);

  function drawn(img) {
    if (img.decode) return img.decode().catch(function () { return null; });
    if (img.complete) return Promise.resolve();
    return new Promise(function (resolve) { img.onload = img.onerror = resolve; });
  }
  var images = Array.prototype.slice.call(form.querySelectorAll('img[data-testid="stimulus"]'));
  Promise.all(images.map(drawn)).then(function () {
    // Decoded; the frame after next has been painted with them.
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        shownAt = performance.now();
        setButtons(true);
        preloadNext();
      });
    });
  });

  function preloadNext() {
    var data = document.getElementById("preload-images");
    if (!data) return;
    try {
      JSON.parse(data.textContent).forEach(function (url) {
        var img = new Image();
        img.src = url;
        preloaded.push(img);
      });
    } catch (e) { /* nothing to preload */ }
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    return form.elements.idempotency_key.value; // insecure context: the server's fresh key
  }

  function select(button) {
    if (sending || shownAt === null || button.disabled) return;
    var name = button.dataset.question;
    form.elements[name].value = button.dataset.value;
    form.querySelectorAll('button[data-question="' + name + '"]').forEach(function (b) {
      b.setAttribute(b.getAttribute("role") === "radio" ? "aria-checked" : "aria-pressed", b === button ? "true" : "false");
    });
    rove(button);
    submitButton.disabled = !allAnswered();
  }

  // A scale is a radio group: one Tab stop (its checked option, or its first), the arrow keys move
  // within it (and, where the page asks several questions, check the option they reach; with one
  // question Space or Enter answers, so that moving never sends an answer).
  function rove(button) {
    var group = button.closest("[role=radiogroup]");
    if (!group) return;
    group.querySelectorAll("[role=radio]").forEach(function (b) { b.tabIndex = b === button ? 0 : -1; });
  }
  form.querySelectorAll("[role=radiogroup]").forEach(function (group) {
    rove(group.querySelector("[role=radio][aria-checked=true]") || group.querySelector("[role=radio]"));
  });
  var STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  form.addEventListener("keydown", function (event) {
    var radio = event.target.closest && event.target.closest("[role=radio]");
    if (!radio || event.altKey || event.ctrlKey || event.metaKey) return;
    var radios = Array.prototype.slice.call(radio.closest("[role=radiogroup]").querySelectorAll("[role=radio]"));
    var at = radios.indexOf(radio), to;
    if (event.key in STEPS) to = (at + STEPS[event.key] + radios.length) % radios.length;
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = radios.length - 1;
    else return;
    event.preventDefault();
    rove(radios[to]);
    radios[to].focus();
    if (multi) select(radios[to]);
  });

  function answer(button) {
    if (sending || shownAt === null || button.disabled || !windowOk()) return;
    if (multi && !allAnswered()) return;
    sending = true;
    var rt = Math.round(performance.now() - shownAt);
    setButtons(false);
    button.classList.add("chosen");
    var body = new URLSearchParams(new FormData(form));
    if (!multi) body.set(button.name, button.value);
    body.set("rt_ms", String(rt));
    body.set("idempotency_key", newKey());
    send(body, 0);
  }

  function retry(body, attempt) {
    say(attempt < 8 ? statusBox.dataset.reconnecting : statusBox.dataset.reconnectingLong);
    window.setTimeout(function () { send(body, attempt + 1); }, Math.min(400 * Math.pow(2, attempt), 5000));
  }

  function send(body, attempt) {
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) { return { res: res, data: data }; });
    }).then(function (r) {
      if (r.res.ok && r.data && r.data.ok) {
        say("");
        window.location.replace(r.data.next);
      } else if (r.res.status >= 500 || r.res.status === 429 || !r.data) {
        if (r.res.status === 403 && !r.data) {
          say(statusBox.dataset.expired, true);
        } else {
          retry(body, attempt);
        }
      } else {
        say(r.data.error || statusBox.dataset.refused, true);
        if (r.data.next) window.setTimeout(function () { window.location.replace(r.data.next); }, 2500);
      }
    }, function () {
      retry(body, attempt); // network error: same body, same idempotency key
    });
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function (event) {
      event.preventDefault();
      if (multi && b !== submitButton) select(b); else answer(b);
    });
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  document.addEventListener("keydown", function (event) {
    if (event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
    if (multi) {
      if (event.key === "Enter" && target.tagName !== "A") { event.preventDefault(); answer(submitButton); return; }
      var open = questions.filter(function (q) { return !answered(q); })[0];
      var pick = open && open.querySelector('button[data-key="' + event.key + '"]');
      if (pick) { event.preventDefault(); select(pick); }
      return;
    }
    var button = form.querySelector('button[data-key="' + event.key + '"]');
    if (button) { event.preventDefault(); answer(button); }
  });
})();
