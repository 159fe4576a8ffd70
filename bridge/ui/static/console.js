// cronbridge console: draws the charts whose data the server embedded as JSON.
// An element <div data-chart="KIND" data-source="ID"> is drawn from the JSON in
// <script type="application/json" id="ID">, once, on load and after each htmx swap.
(function () {
  "use strict";

  function secondsAxis(label) {
    return { label: label, size: 60 };
  }

  var kinds = {
    rate: function (data) {
      return {
        data: [data.at, data.per_second],
        series: [{}, { label: "results/s", stroke: "#2b6cb0", fill: "rgba(43,108,176,0.15)", width: 2 }],
        axes: [{}, secondsAxis("results/s")],
      };
    },
    durations: function (data) {
      return {
        data: [data.opened, data.seconds, data.failed],
        series: [
          {},
          { label: "duration (s)", stroke: "#2b6cb0", width: 2, points: { show: true } },
          { label: "failed or lost", stroke: "#c53030", width: 2, scale: "jobs", points: { show: true } },
        ],
        axes: [{}, secondsAxis("seconds"), { scale: "jobs", side: 1, label: "jobs", grid: { show: false } }],
      };
    },
  };

  // A time axis spanning at least `span` seconds: one point, or results that all came
  // within a second, would otherwise be drawn over a range of years or of milliseconds.
  function atLeastSeconds(span) {
    return function (u, min, max) {
      if (max - min >= span) return [min, max];
      var mid = (min + max) / 2;
      return [mid - span / 2, mid + span / 2];
    };
  }

  function draw(root) {
    if (typeof uPlot === "undefined") return;
    var found = (root.matches && root.matches("[data-chart]")) ? [root] : [];
    found = found.concat(Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll("[data-chart]") : []));
    found.forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.source);
      var kind = kinds[el.dataset.chart];
      if (!source || !kind) return;
      var spec = kind(JSON.parse(source.textContent || "{}"));
      el.dataset.drawn = "1";
      if (!spec.data[0].length) {
        el.textContent = "no data yet";
        el.classList.add("empty");
        return;
      }
      var width = Math.max(300, Math.min(el.clientWidth || 800, 1000));
      new uPlot({ width: width, height: 220, series: spec.series, axes: spec.axes, scales: { x: { time: true, range: atLeastSeconds(10) } } }, spec.data, el);
    });
  }

  function start() {
    if (typeof htmx !== "undefined") {
      htmx.onLoad(draw); // the page itself, then every swapped-in fragment
    } else {
      draw(document);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
