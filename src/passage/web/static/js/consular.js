// Consular pages: Leaflet maps without a tile server (no network here). The drawing map shows where registered
// nationals are (counts per square, never individuals) so the officer can draw the crisis area around them;
// clicks add corners, "Close the area" writes a closed GeoJSON polygon into the form.
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function baseMap(element) {
    var map = L.map(element, { attributionControl: false, zoomSnap: 0.25 });
    return map;
  }

  function pointMap(element) {
    var point = readJson("consular-point");
    if (!point) { element.textContent = element.dataset.noPoint || ""; element.style.height = "auto"; return; }
    var map = baseMap(element);
    L.circleMarker([point.latitude, point.longitude], { radius: 8, color: "#08306b", fillColor: "#2171b5", fillOpacity: 0.9 }).addTo(map);
    L.circle([point.latitude, point.longitude], { radius: 5000, color: "#999", weight: 1, fill: false }).addTo(map);
    map.setView([point.latitude, point.longitude], 10);
    element.dataset.ready = "true";
  }

  function drawMap(element) {
    var map = baseMap(element);
    var density = readJson("consular-density") || [];
    var layer = L.layerGroup().addTo(map);
    var bounds = [];
    density.forEach(function (cell) {
      var r = 3 + Math.sqrt(cell.count) * 1.5;
      L.circleMarker([cell.latitude, cell.longitude], { radius: r, color: "#b30000", weight: 1, fillOpacity: 0.35, className: "consular-density" })
        .bindTooltip(cell.count + " " + (element.dataset.peopleLabel || "")).addTo(layer);
      bounds.push([cell.latitude, cell.longitude]);
    });
    if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20] }); } else { map.setView([-2.5, 118], 4); }
    var corners = [];
    var line = L.polyline([], { color: "#08306b" }).addTo(map);
    var polygon = null;
    var area = document.getElementById("f-area");
    var status = document.getElementById("consular-draw-status");
    function report(text) { if (status) { status.textContent = text; } }
    map.on("click", function (event) {
      if (polygon) { return; }
      corners.push([Number(event.latlng.lng.toFixed(5)), Number(event.latlng.lat.toFixed(5))]);
      line.setLatLngs(corners.map(function (c) { return [c[1], c[0]]; }));
      report(corners.length + " " + (status ? status.dataset.corners : ""));
    });
    var close = document.getElementById("consular-draw-close");
    if (close) {
      close.addEventListener("click", function () {
        if (corners.length < 3 || polygon) { return; }
        var ring = corners.concat([corners[0]]);
        polygon = L.polygon(ring.map(function (c) { return [c[1], c[0]]; }), { color: "#08306b", fillOpacity: 0.15 }).addTo(map);
        map.removeLayer(line);
        if (area) { area.value = JSON.stringify({ type: "Polygon", coordinates: [ring] }); }
        report(status ? status.dataset.closed : "");
      });
    }
    var clear = document.getElementById("consular-draw-clear");
    if (clear) {
      clear.addEventListener("click", function () {
        corners = [];
        if (polygon) { map.removeLayer(polygon); polygon = null; }
        line.setLatLngs([]);
        if (!map.hasLayer(line)) { line.addTo(map); }
        if (area) { area.value = ""; }
        report("");
      });
    }
    element.dataset.ready = "true";
  }

  function crisisMap(element) {
    var map = baseMap(element);
    var area = readJson("consular-area");
    var network = readJson("consular-network") || { points: [] };
    var shape = area ? L.geoJSON(area, { style: { color: "#b30000", weight: 2, fillOpacity: 0.1 } }).addTo(map) : null;
    network.points.forEach(function (p) {
      var text = document.createElement("span");
      text.textContent = (element.dataset.pointLabel || "") + ": " + p.name + " (" + (element.dataset.capacityLabel || "") + " " + p.capacity + ")";
      L.circleMarker([p.latitude, p.longitude], { radius: 7, color: "#006d2c", fillColor: "#31a354", fillOpacity: 0.9, className: "consular-point" })
        .bindTooltip(text.innerHTML).addTo(map);
    });
    if (shape && shape.getBounds().isValid()) { map.fitBounds(shape.getBounds(), { padding: [20, 20] }); } else { map.setView([0, 0], 2); }
    element.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof L === "undefined") { return; }
    var point = document.getElementById("consular-point-map");
    if (point) { pointMap(point); }
    var draw = document.getElementById("consular-draw-map");
    if (draw) { drawMap(draw); }
    var crisis = document.getElementById("consular-crisis-map");
    if (crisis) { crisisMap(crisis); }
  });
})();
