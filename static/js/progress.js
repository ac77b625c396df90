// Live generation progress on the study's admin page: polls the JSON endpoint named in
// data-progress-url and updates the bar, the status, the job's summary and the failures.
(function () {
  "use strict";
  function $(root, name) { return root.querySelector('[data-progress="' + name + '"]'); }
  function text(el, value) { if (el) { el.textContent = value; } }

  function render(root, data) {
    var job = data.job;
    text($(root, "trials"), data.trials);
    text($(root, "eligible"), data.eligible_image_count === null ? "-" : data.eligible_image_count);
    text($(root, "surviving"), data.surviving_image_count === null ? "-" : data.surviving_image_count);
    var status = document.querySelector('[data-progress="study_status"]');
    text(status, data.study_status_label);
    if (!job) { return false; }
    var bar = $(root, "bar");
    if (bar) {
      bar.style.width = job.percent + "%";
      bar.parentNode.setAttribute("aria-valuenow", job.percent);
      bar.parentNode.setAttribute("data-phase", job.phase);
    }
    // The server writes the summary (phase, counts, queue position), so the page and the poll agree.
    text($(root, "summary"), job.summary);
    var list = $(root, "failures");
    if (list) {
      list.textContent = "";
      if (!data.failures.length) {
        var none = document.createElement("li");
        none.textContent = "None.";
        list.appendChild(none);
      }
      data.failures.forEach(function (f) {
        var li = document.createElement("li");
        li.textContent = f.text;
        list.appendChild(li);
      });
    }
    return job.phase === "waiting" || job.phase === "planning" || job.phase === "generating";
  }

  function poll(root, url, wasRunning) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var running = render(root, data);
        if (running) {
          setTimeout(function () { poll(root, url, true); }, 1500);
        } else if (wasRunning) {
          window.location.reload(); // the buttons (launch) depend on the new status
        }
      })
      .catch(function () { setTimeout(function () { poll(root, url, wasRunning); }, 5000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("generation-progress");
    if (root && root.dataset.progressUrl) { poll(root, root.dataset.progressUrl, false); }
  });
})();
