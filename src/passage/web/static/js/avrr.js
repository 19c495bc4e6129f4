// AVRR programme dashboard charts. Data comes from the JSON block #avrr-dashboard-data (CSP: no inline script).
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); } }
  var palette = ["#0b5cad", "#a4161a", "#1e6b34", "#8a5300", "#5b2a86", "#0f766e", "#4a5361"];
  ready(function () {
    var block = document.getElementById("avrr-dashboard-data");
    if (!block || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(block.textContent);
    var L = data.labels;
    var returns = document.getElementById("avrr-returns-chart");
    if (returns) {
      var months = Array.from(new Set(data.returns.map(function (r) { return r.month; }))).sort();
      var countries = Array.from(new Set(data.returns.map(function (r) { return r.country; }))).sort();
      new window.Chart(returns, { type: "bar", data: { labels: months, datasets: countries.map(function (c, i) {
        return { label: c, backgroundColor: palette[i % palette.length], data: months.map(function (m) {
          var hit = data.returns.find(function (r) { return r.month === m && r.country === c; }); return hit ? hit.returnees : 0; }) };
      }) }, options: { scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: L.returnees } } } } });
    }
    var planned = document.getElementById("avrr-planned-chart");
    if (planned) {
      new window.Chart(planned, { type: "bar", data: { labels: data.planned.map(function (p) { return p.kind; }), datasets: [
        { label: L.planned, backgroundColor: palette[0], data: data.planned.map(function (p) { return Number(p.planned); }) },
        { label: L.delivered, backgroundColor: palette[2], data: data.planned.map(function (p) { return Number(p.delivered); }) }] } });
    }
    var rounds = Array.from(new Set([].concat.apply([], data.cohorts.map(function (c) { return c.rounds.map(function (r) { return r.round; }); })))).sort();
    function series(canvas, pick, title) {
      if (!canvas) { return; }
      new window.Chart(canvas, { type: "line", data: { labels: rounds.map(function (r) { return L.round + " " + r; }), datasets: data.cohorts.map(function (c, i) {
        return { label: c.cohort, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], spanGaps: false,
          data: rounds.map(function (r) { var hit = c.rounds.find(function (x) { return x.round === r; }); return hit ? pick(hit) : null; }) };
      }) }, options: { scales: { y: { min: 0, max: 1, title: { display: true, text: title } } } } });
    }
    series(document.getElementById("avrr-trend-chart"), function (r) { return r.median.composite; }, L.median);
    series(document.getElementById("avrr-share-chart"), function (r) { return r.share; }, L.share);
  });
})();
