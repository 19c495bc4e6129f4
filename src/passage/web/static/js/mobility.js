// Mobility results page: a Leaflet choropleth of the run's areas (no tile server: boundaries only).
// Redacted areas (a count of the threshold or fewer) are hatched and labelled "fewer than N", never 0.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text === null || text === undefined ? "" : String(text);
    return div.innerHTML;
  }

  function addHatch(svg) {
    if (!svg || svg.querySelector("#mobility-hatch")) { return; }
    var defs = document.createElementNS(SVG, "defs");
    var pattern = document.createElementNS(SVG, "pattern");
    pattern.setAttribute("id", "mobility-hatch");
    pattern.setAttribute("patternUnits", "userSpaceOnUse");
    pattern.setAttribute("width", "8");
    pattern.setAttribute("height", "8");
    pattern.setAttribute("patternTransform", "rotate(45)");
    var background = document.createElementNS(SVG, "rect");
    background.setAttribute("width", "8");
    background.setAttribute("height", "8");
    background.setAttribute("fill", "#ffffff");
    var line = document.createElementNS(SVG, "rect");
    line.setAttribute("width", "3");
    line.setAttribute("height", "8");
    line.setAttribute("fill", "#9a9a9a");
    pattern.appendChild(background);
    pattern.appendChild(line);
    defs.appendChild(pattern);
    svg.insertBefore(defs, svg.firstChild);
  }

  function drawMap(element) {
    if (typeof L === "undefined") { return; }
    var layerData = readJson("mobility-layer");
    if (!layerData) { return; }
    var palette = JSON.parse(element.dataset.palette || "[]");
    var locale = element.dataset.locale === "zh_Hans" ? "zh-CN" : "en-GB";
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.25, renderer: L.svg() });
    var redactedPaths = [];
    var areas = L.geoJSON(layerData, {
      style: function (feature) {
        var cls = feature.properties["class"];
        var redacted = feature.properties.redacted;
        return {
          color: "#444", weight: 1, fillOpacity: redacted ? 1 : 0.85,
          fillColor: redacted ? "#ffffff" : palette[Math.min(cls, palette.length - 1)],
          className: redacted ? "mobility-area mobility-redacted" : "mobility-area mobility-class-" + cls
        };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        var value = p.redacted ? element.dataset.redactedLabel : Number(p.value).toLocaleString(locale);
        layer.bindTooltip(escapeText(p.name) + " (" + escapeText(p.pcode) + ")<br>" + escapeText(element.dataset.valueLabel) + ": " + escapeText(value));
        if (p.redacted) { redactedPaths.push(layer); }
        layer.on("click", function () {
          var row = document.querySelector('#mobility-area-table tr[data-pcode="' + CSS.escape(p.pcode) + '"]');
          if (row) { row.scrollIntoView({ block: "nearest" }); row.classList.add("highlight"); }
        });
      }
    }).addTo(map);
    var bounds = areas.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [10, 10] }); } else { map.setView([0, 0], 2); }
    var svg = element.querySelector("svg");
    addHatch(svg);
    redactedPaths.forEach(function (layer) {
      if (layer.getLayers) {
        layer.getLayers().forEach(function (inner) { if (inner._path) { inner._path.setAttribute("fill", "url(#mobility-hatch)"); } });
      } else if (layer._path) {
        layer._path.setAttribute("fill", "url(#mobility-hatch)");
      }
    });
    element.dataset.ready = "true";
  }

  function start() {
    var element = document.getElementById("mobility-map");
    if (element) { drawMap(element); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
