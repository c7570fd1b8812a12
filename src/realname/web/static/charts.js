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

// The trend: registrations and refusals per month (bars), complaints (line) and the
// violation rate (line, right axis), from the page's JSON block.
(function () {
  var holder = document.getElementById("trend-chart");
  var source = document.getElementById("trend-data");
  if (!holder || !source || typeof echarts === "undefined") return;
  var rows = JSON.parse(source.textContent || "[]");
  var chart = echarts.init(holder, null, { renderer: "svg" });
  var pick = function (key) { return rows.map(function (r) { return r[key]; }); };
  chart.setOption({
    animation: false,
    grid: { left: 56, right: 56, top: 32, bottom: 40 },
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    xAxis: { type: "category", data: pick("month") },
    yAxis: [
      { type: "value", minInterval: 1 },
      { type: "value", min: 0, max: 1, axisLabel: { formatter: function (v) { return Math.round(v * 100) + "%"; } } }
    ],
    series: [
      { type: "bar", name: "registrations", data: pick("registrations"), itemStyle: { color: "#1f5fa8" } },
      { type: "bar", name: "refused", data: pick("refused"), itemStyle: { color: "#b35c00" } },
      { type: "line", name: "complaints", data: pick("complaints"), itemStyle: { color: "#555" } },
      { type: "line", name: "violation rate", yAxisIndex: 1, data: pick("violation_rate"), connectNulls: true, itemStyle: { color: "#a11" } }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
