// DTM map page: a Leaflet choropleth of the round's areas (no tile server: boundaries only), site points,
// and a Chart.js time series. Data comes from JSON blocks in the page; the tables beside carry the same figures.
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function formatNumber(value, locale) {
    if (value === null || value === undefined) { return null; }
    return Number(value).toLocaleString(locale === "zh_Hans" ? "zh-CN" : "en-GB");
  }

  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text === null || text === undefined ? "" : String(text);
    return div.innerHTML;
  }

  function drawMap(element) {
    if (typeof L === "undefined") { return; }
    var layerData = readJson("dtm-layer");
    var sitesData = readJson("dtm-sites");
    if (!layerData) { return; }
    var palette = JSON.parse(element.dataset.palette || "[]");
    var locale = element.dataset.locale;
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.25 });
    var areas = L.geoJSON(layerData, {
      style: function (feature) {
        var cls = feature.properties["class"];
        return {
          color: "#444", weight: 1, fillOpacity: 0.85,
          fillColor: cls === null || cls === undefined ? "#ffffff" : palette[Math.min(cls, palette.length - 1)]
        };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        var name = locale === "zh_Hans" && p.name_zh ? p.name_zh : p.name;
        var value = formatNumber(p.value, locale);
        layer.bindTooltip(escapeText(name) + " (" + escapeText(p.pcode) + ")<br>" +
          escapeText(element.dataset.individualsLabel) + ": " + escapeText(value === null ? element.dataset.noData : value));
        layer.on("click", function () {
          var row = document.querySelector('#dtm-area-table tr[data-pcode="' + p.pcode + '"]');
          if (row) { row.scrollIntoView({ block: "nearest" }); row.classList.add("highlight"); }
        });
      }
    }).addTo(map);
    var sites = L.layerGroup().addTo(map);
    if (sitesData && sitesData.features) {
      sitesData.features.forEach(function (feature) {
        var c = feature.geometry.coordinates;
        var p = feature.properties;
        L.circleMarker([c[1], c[0]], { radius: 7, color: "#08306b", weight: 2, fillColor: "#2171b5", fillOpacity: 0.9, className: "dtm-site" })
          .bindTooltip(escapeText(element.dataset.siteLabel) + ": " + escapeText(p.name) + " (" + escapeText(p.site_id) + ")<br>" +
            escapeText(element.dataset.individualsLabel) + ": " + escapeText(formatNumber(p.idp_individuals, locale) || "–"))
          .addTo(sites);
      });
    }
    var bounds = areas.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [10, 10] }); } else { map.setView([0, 0], 2); }
    element.dataset.ready = "true";
  }

  function drawChart(canvas) {
    if (typeof Chart === "undefined") { return; }
    var data = readJson("dtm-chart");
    if (!data) { return; }
    var colours = ["#b30000", "#2171b5", "#238b45", "#6a51a3", "#d94801", "#525252"];
    var datasets = [{ label: data.total_label, data: data.total, borderColor: "#000000", backgroundColor: "#000000", borderWidth: 3 }];
    data.areas.forEach(function (area, index) {
      datasets.push({ label: area.label, data: area.data, borderColor: colours[index % colours.length], backgroundColor: colours[index % colours.length], borderDash: [4, 3] });
    });
    new Chart(canvas, {
      type: "line",
      data: { labels: data.labels, datasets: datasets },
      options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } }
    });
    canvas.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var element = document.getElementById("dtm-map");
    if (element) { drawMap(element); }
    var canvas = document.getElementById("dtm-series");
    if (canvas) { drawChart(canvas); }
  });
})();
