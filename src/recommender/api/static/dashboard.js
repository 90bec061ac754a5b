// Draws every chart of a dashboard page with the vendored uPlot; the data come from the
// page itself (data-chart), so nothing is fetched. Each plot follows its box's width.
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#c2410c", "#1b7a3d", "#7c3aed", "#b3261e", "#0f766e", "#a16207"];

  // A single day (or epoch) still gets an axis of sensible width around it.
  function xRange(spec) {
    var half = spec.xKind === "day" ? 43200 : 0.5;
    var min = Math.min.apply(null, spec.x);
    var max = Math.max.apply(null, spec.x);
    return max - min < 2 * half ? [min - half, max + half] : [min, max];
  }

  function draw(box) {
    var spec = JSON.parse(box.getAttribute("data-chart"));
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var points = 0;
    spec.series.forEach(function (s) {
      s.values.forEach(function (v) { if (v !== null) { points += 1; } });
    });
    var options = {
      width: Math.max(box.clientWidth, 200),
      height: 240,
      scales: { x: { time: spec.xKind === "day", range: xRange(spec) } },
      // Epochs are whole numbers: no tick between two of them.
      axes: [spec.xKind === "day" ? {} : { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] },
             { size: 60 }],
      legend: { live: true },
      series: [{ label: spec.xKind === "day" ? "day" : "epoch" }].concat(
        spec.series.map(function (s, i) {
          var colour = COLOURS[(s.group >= 0 ? s.group : i) % COLOURS.length];
          if (s.bound) {  // an interval's end: thin and dashed, in its series' colour
            return { label: s.label, stroke: colour, width: 1, dash: [4, 4], spanGaps: false,
                     points: { show: true, size: 3, fill: colour } };
          }
          return { label: s.label, stroke: colour, width: 2, spanGaps: false,
                   points: { show: true, size: 5, fill: colour } };
        })
      ),
    };
    var plot = new uPlot(options, data, box);
    box.setAttribute("data-points", String(points));
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        plot.setSize({ width: Math.max(box.clientWidth, 200), height: 240 });
      }).observe(box);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(draw);
  });
})();
