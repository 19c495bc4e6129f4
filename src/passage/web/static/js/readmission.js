// Readmission statistics charts (Chart.js, vendored). Data comes from a JSON block; no inline script (CSP).
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("readmission-chart-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var names = document.getElementById("readmission-chart-labels").dataset;
    var applications = document.getElementById("chart-applications");
    var reply = document.getElementById("chart-reply");
    if (applications) {
      new Chart(applications, { type: "bar", data: { labels: data.labels, datasets: [{ label: names.applications, data: data.applications, backgroundColor: "#1f5f8b" }] },
        options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    }
    if (reply) {
      new Chart(reply, { type: "bar", data: { labels: data.labels, datasets: [
        { label: names.median, data: data.median, backgroundColor: "#2e7d32" },
        { label: names.p90, data: data.p90, backgroundColor: "#b26a00" }] },
        options: { animation: false, scales: { y: { beginAtZero: true } } } });
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
