// 看板: draws the board's charts with ECharts from the JSON the page carries (the same as GET /api/v1/board).
// Every bar and slice opens the list behind it; the numbers on the page work without this file.
(function () {
  "use strict";
  var source = document.getElementById("board-data");
  if (!source || !window.echarts) return;
  var data = JSON.parse(source.textContent);
  var en = data.lang === "en";
  var CARD_COLORS = { none: "#2f9e44", near: "#f2c94c", yellow: "#e8a800", red: "#d64545" };
  var charts = [];

  function label(c) { return en ? c.label_en : c.label; }

  function draw(id, option, points) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el, null, { renderer: "canvas" });
    option.animation = false;
    option.textStyle = { fontFamily: getComputedStyle(document.body).fontFamily };
    chart.setOption(option);
    // A click on a bar or slice opens its list: points[seriesIndex][dataIndex].url.
    chart.on("click", function (e) {
      var series = points[e.seriesIndex] || [];
      var point = series[e.dataIndex];
      if (point && point.url) window.location.href = point.url;
    });
    el.dataset.drawn = "1";
    charts.push(chart);
  }

  var narrow = window.matchMedia("(max-width: 720px)").matches;
  var grid = { left: 8, right: 12, top: 36, bottom: 8, containLabel: true };

  draw("chart-months", {
    tooltip: { trigger: "axis" },
    legend: { data: [en ? "New" : "新增", en ? "Closed" : "办结"], top: 0 },
    grid: grid,
    xAxis: { type: "category", data: data.started_by_month.map(function (p) { return en ? p.key : p.label.replace(/^\d+年/, ""); }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: en ? "New" : "新增", type: "bar", data: data.started_by_month.map(function (p) { return p.value; }), itemStyle: { color: "#2b6cb0" } },
      { name: en ? "Closed" : "办结", type: "bar", data: data.closed_by_month.map(function (p) { return p.value; }), itemStyle: { color: "#2f9e44" } }
    ]
  }, [data.started_by_month, data.closed_by_month]);

  draw("chart-types", {
    tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
    legend: narrow ? { bottom: 0, type: "scroll" } : { orient: "vertical", right: 0, top: "middle", type: "scroll" },
    series: [{
      type: "pie", radius: narrow ? ["30%", "55%"] : ["35%", "65%"], center: narrow ? ["50%", "42%"] : ["38%", "50%"],
      label: { formatter: "{c}" },
      data: data.by_type.map(function (p) { return { name: label(p), value: p.value }; })
    }]
  }, [data.by_type]);

  draw("chart-areas", {
    tooltip: { trigger: "axis" },
    grid: grid,
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: data.area_started.map(label) },
    series: [{ type: "bar", data: data.area_started.map(function (p) { return p.value; }), itemStyle: { color: "#1f4e79" },
               label: { show: true, position: "right" } }]
  }, [data.area_started]);

  draw("chart-cards", {
    tooltip: { trigger: "axis" },
    grid: grid,
    xAxis: { type: "category", data: data.cards.map(label) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", label: { show: true, position: "top" },
               data: data.cards.map(function (p) { return { value: p.value, itemStyle: { color: CARD_COLORS[p.key] } }; }) }]
  }, [data.cards]);

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
