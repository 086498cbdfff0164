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
          var when = new Date(t.due_at);
          var text = (when.getMonth() + 1) + "-" + when.getDate() + " " + String(when.getHours()).padStart(2, "0") + ":" + String(when.getMinutes()).padStart(2, "0");
          overlays.add(shown.id, { position: { bottom: 14, left: -10 }, html: '<span class="diagram-overlay">定时 ' + text + "</span>" });
        });
        canvas.zoom("fit-viewport", "auto");
      })
      .catch(function () { box.textContent = box.getAttribute("data-error") || "流程图无法显示"; });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
