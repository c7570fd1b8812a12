// The dashboard's chart: each enterprise's violation rate with its 95 % interval as an error
// bar (ECharts, served from this app). The data is the page's JSON block, never inline script.
(function () {
  var holder = document.getElementById("rates-chart");
  var source = document.getElementById("rates-data");
  if (!holder || !source || typeof echarts === "undefined") return;
  var rows = JSON.parse(source.textContent || "[]");
  var chart = echarts.init(holder, null, { renderer: "svg" });
  var names = rows.map(function (r) { return r.name; });
  chart.setOption({
    animation: false,
    grid: { left: 48, right: 16, top: 16, bottom: 48 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: names, axisLabel: { rotate: 30 } },
    yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: function (v) { return Math.round(v * 100) + "%"; } } },
    series: [
      { type: "bar", name: "rate", data: rows.map(function (r) {
          return { value: r.rate, itemStyle: { color: r.kind === "mno" ? "#1f5fa8" : "#b35c00" } }; }) },
      { type: "custom", name: "95%", data: rows.map(function (r, i) { return [i, r.low, r.high]; }),
        renderItem: function (params, api) {
          var low = api.coord([api.value(0), api.value(1)]);
          var high = api.coord([api.value(0), api.value(2)]);
          var w = 10;
          var style = { stroke: "#222", lineWidth: 1.5 };
          return { type: "group", children: [
            { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style: style },
            { type: "line", shape: { x1: low[0] - w / 2, y1: low[1], x2: low[0] + w / 2, y2: low[1] }, style: style },
            { type: "line", shape: { x1: high[0] - w / 2, y1: high[1], x2: high[0] + w / 2, y2: high[1] }, style: style }
          ] };
        } }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
