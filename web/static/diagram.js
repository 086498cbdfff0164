// The case diagram: bpmn-js draws the process, markers show what is done, current and waiting.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("diagram");
    if (!box || !window.BpmnJS) return;
    var marks = JSON.parse(box.getAttribute("data-marks") || "{}");
    var viewer = new window.BpmnJS({ container: box });
    fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas"), registry = viewer.get("elementRegistry"), overlays = viewer.get("overlays");
        var root = canvas.getRootElement();
        // An element inside a collapsed subprocess lives on a plane of its own: mark it there, and
        // mark the subprocess on the main plane too, so the reader sees where the case stands.
        function planeOf(el) { while (el && el.parent) el = el.parent; return el; }
        function shownFor(id) {
          var el = registry.get(id), guard = 0;
          while (el && guard++ < 10) {
            var plane = planeOf(el);
            if (plane === root) return el;
            var host = plane && plane.businessObject && registry.get(plane.businessObject.id);
            if (!host || host === plane) return null;
            el = host;
          }
          return null;
        }
        function mark(ids, cls) {
          (ids || []).forEach(function (id) {
            if (registry.get(id)) canvas.addMarker(id, cls);
            var shown = shownFor(id);
            if (shown && shown.id !== id) canvas.addMarker(shown.id, cls);
          });
        }
        mark(marks.completed, "mark-done");
        mark(marks.current, "mark-current");
        mark((marks.timers || []).map(function (t) { return t.element_id; }), "mark-timer");
        mark(marks.messages, "mark-timer");
        mark(marks.failed, "mark-failed");
        (marks.timers || []).forEach(function (t) {
          var shown = shownFor(t.element_id);
          if (!t.due_at || !shown) return;
          // In the deployment's time zone, like every other time on the page (not the browser's).
          overlays.add(shown.id, { position: { top: 8, left: 42 },  // beside the event, clear of its label
                                   html: '<span class="diagram-overlay">定时 ' + localText(t.due_at, box.getAttribute("data-tz")) + "</span>" });
        });
        var current = (marks.current || []).map(shownFor).filter(Boolean);
        function fitCurrent() {
          canvas.zoom("fit-viewport", "auto");
          // Too small to read (a long process on a phone): centre the current step at a readable size.
          if (canvas.zoom() < 0.75 && current.length) {
            var el = current[0], vb = canvas.viewbox(), scale = 0.9;
            var w = vb.outer.width / scale, h = vb.outer.height / scale;
            canvas.viewbox({ x: el.x + el.width / 2 - w / 2, y: el.y + el.height / 2 - h / 2, width: w, height: h });
          }
        }
        fitCurrent();
        controls(box, canvas, fitCurrent);
      })
      .catch(function () { box.textContent = box.getAttribute("data-error") || "流程图无法显示"; });
  }
  function localText(iso, zone) {
    var parts = {};
    new Intl.DateTimeFormat("zh-CN", { timeZone: zone || undefined, month: "2-digit", day: "2-digit", hour: "2-digit",
                                       minute: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
    return parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }
  // Zoom, fit, the current step, full screen: buttons for fingers and for readers without a wheel.
  function controls(box, canvas, fitCurrent) {
    var bar = document.createElement("div");
    bar.className = "diagram-tools";
    [["放大", "+", function () { canvas.zoom(canvas.zoom() * 1.25); }],
     ["缩小", "−", function () { canvas.zoom(canvas.zoom() / 1.25); }],
     ["全图", "全图", function () { canvas.zoom("fit-viewport", "auto"); }],
     ["当前步骤", "当前", fitCurrent],
     ["全屏", "全屏", function () {
        var full = box.classList.toggle("diagram-full");
        document.body.classList.toggle("diagram-open", full);
        this.textContent = full ? "退出全屏" : "全屏";
        canvas.resized();
        fitCurrent();
      }]].forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button"; btn.title = b[0]; btn.setAttribute("aria-label", b[0]); btn.textContent = b[1];
      btn.addEventListener("click", b[2]);
      bar.appendChild(btn);
    });
    box.appendChild(bar);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && box.classList.contains("diagram-full")) bar.lastChild.click();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
