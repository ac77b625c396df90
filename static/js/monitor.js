// Live monitor: fetch the study's figures as JSON and redraw the tables; no inline script (CSP friendly).
(function () {
  "use strict";
  var root = document.getElementById("monitor");
  if (!root) return;
  var url = root.dataset.url;
  var every = Math.max(2, parseInt(root.dataset.refreshSeconds || "10", 10)) * 1000;

  function field(name) { return root.querySelector('[data-field="' + name + '"]'); }
  function text(value) { return value === null || value === undefined ? "–" : String(value); }
  function pct(value) { return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + " %"; }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
    return m + " min " + s + " s";
  }
  function row(cells, numeric) {
    var tr = document.createElement("tr");
    cells.forEach(function (value, i) {
      var td = document.createElement("td");
      td.textContent = text(value);
      if (numeric && numeric.indexOf(i) >= 0) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(selector, rows) {
    var body = root.querySelector(selector);
    body.replaceChildren.apply(body, rows);
  }

  function draw(data) {
    field("status").textContent = data.status;
    field("last_activity").textContent = data.last_activity
      ? data.last_activity + " (" + duration(data.last_activity_seconds_ago) + " ago)" : "none yet";
    field("responses").textContent = data.responses;
    field("pilot").textContent = data.pilot.started + " started, " + data.pilot.completed + " completed";
    field("simulated").textContent = data.simulated;
    field("screened_out").textContent = data.screened_out;
    field("declined").textContent = data.declined;
    field("withdrawn").textContent = data.withdrawn;
    field("generated_at").textContent = data.generated_at;
    var numeric = [1, 2, 3, 4, 5, 6, 7, 8];
    fill('[data-testid="monitor-conditions"] tbody', data.conditions.map(function (c) {
      return row([c.condition, c.started, c.completed, c.abandoned, c.active, c.excluded,
        c.included_completed + " / " + c.target, pct(c.completion_rate), duration(c.median_duration_s)], numeric);
    }));
    var t = data.totals;
    fill('[data-testid="monitor-conditions"] tfoot', [row(["All", t.started, t.completed, t.abandoned, t.active,
      t.excluded, "", pct(t.completion_rate), duration(t.median_duration_s)], numeric)]);
    fill('[data-testid="monitor-cell-summary"] tbody', Object.keys(data.cell_summary).map(function (m) {
      var s = data.cell_summary[m];
      return row([m, s.cells, s.min, s.median, s.max, s.without_responses], [1, 2, 3, 4, 5]);
    }));
    fill('[data-testid="monitor-cells"] tbody', data.cells.map(function (c) {
      return row([c.trial, c.image, c.target_class, c.method, c.responses], [0, 4]);
    }));
    field("error").hidden = true;
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(draw)
      .catch(function (e) { var el = field("error"); el.textContent = "Could not refresh: " + e.message; el.hidden = false; })
      .finally(function () { window.setTimeout(refresh, every); });
  }
  refresh();
})();
