// Progressive enhancement for the task forms: visible_if, table rows, opinion phrases.
// Every page works without this file; the server validates everything again.
(function () {
  "use strict";
  document.documentElement.classList.add("has-js");
  document.body && document.body.classList.add("has-js");

  // ---- visible_if: a small evaluator for the conditions the engine documents -------------------
  // names, literals ('x', 1, True/False/None, lists), == != < <= > >=, in, not in, is (not) None,
  // and, or, not, parentheses. An expression it cannot read leaves the field shown.
  function tokenize(src) {
    var re = /\s*(?:(\d+\.\d+|\d+)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(==|!=|<=|>=|<|>|\(|\)|\[|\]|,|-)|([A-Za-z_][A-Za-z0-9_]*))/y;
    var out = [], m;
    re.lastIndex = 0;
    while (re.lastIndex < src.length) {
      if (/^\s*$/.test(src.slice(re.lastIndex))) break;
      m = re.exec(src);
      if (!m) throw new Error("bad token");
      if (m[1] !== undefined) out.push({ t: "num", v: parseFloat(m[1]) });
      else if (m[2] !== undefined) out.push({ t: "str", v: m[2].slice(1, -1).replace(/\\(.)/g, "$1") });
      else if (m[3] !== undefined) out.push({ t: "op", v: m[3] });
      else out.push({ t: "name", v: m[4] });
    }
    return out;
  }

  function parse(src) {
    var toks = tokenize(src), i = 0;
    function peek(v) { return toks[i] && (toks[i].v === v) && toks[i].t !== "str"; }
    function take(v) { if (!peek(v)) throw new Error("expected " + v); i++; }
    function orExpr() { var l = andExpr(); while (peek("or")) { i++; l = { k: "or", a: l, b: andExpr() }; } return l; }
    function andExpr() { var l = notExpr(); while (peek("and")) { i++; l = { k: "and", a: l, b: notExpr() }; } return l; }
    function notExpr() { if (peek("not")) { i++; return { k: "not", a: notExpr() }; } return cmp(); }
    function cmp() {
      var l = atom(), ops = ["==", "!=", "<", "<=", ">", ">="];
      var node = null, left = l;
      while (toks[i]) {
        var op = null;
        if (toks[i].t === "op" && ops.indexOf(toks[i].v) >= 0) { op = toks[i].v; i++; }
        else if (peek("in")) { op = "in"; i++; }
        else if (peek("not") && toks[i + 1] && toks[i + 1].v === "in") { op = "not in"; i += 2; }
        else if (peek("is")) { i++; if (peek("not")) { i++; op = "is not"; } else op = "is"; }
        else break;
        var r = atom(), c = { k: "cmp", op: op, a: left, b: r };
        node = node ? { k: "and", a: node, b: c } : c;
        left = r;
      }
      return node || l;
    }
    function atom() {
      var tk = toks[i];
      if (!tk) throw new Error("end");
      if (tk.t === "op" && tk.v === "(") { i++; var e = orExpr(); take(")"); return e; }
      if (tk.t === "op" && tk.v === "[") {
        i++; var items = [];
        while (!peek("]")) { items.push(orExpr()); if (peek(",")) i++; }
        take("]"); return { k: "list", items: items };
      }
      if (tk.t === "op" && tk.v === "-") { i++; var n = atom(); return { k: "neg", a: n }; }
      i++;
      if (tk.t === "num" || tk.t === "str") return { k: "lit", v: tk.v };
      if (tk.v === "True") return { k: "lit", v: true };
      if (tk.v === "False") return { k: "lit", v: false };
      if (tk.v === "None") return { k: "lit", v: null };
      return { k: "name", v: tk.v };
    }
    var tree = orExpr();
    if (i !== toks.length) throw new Error("trailing");
    return tree;
  }

  function eq(a, b) { if (a === undefined) a = null; if (b === undefined) b = null; return a === b || (a !== null && b !== null && String(a) === String(b) && typeof a === typeof b); }
  function contains(hay, needle) {
    if (hay === null || hay === undefined) return false;
    if (typeof hay === "string") return needle !== null && hay.indexOf(String(needle)) >= 0;
    return hay.some(function (x) { return eq(x, needle); });
  }
  function ev(n, env) {
    switch (n.k) {
      case "lit": return n.v;
      case "name": return env.hasOwnProperty(n.v) ? env[n.v] : null;
      case "list": return n.items.map(function (x) { return ev(x, env); });
      case "neg": return -ev(n.a, env);
      case "not": return !truthy(ev(n.a, env));
      case "and": return truthy(ev(n.a, env)) && truthy(ev(n.b, env));
      case "or": return truthy(ev(n.a, env)) || truthy(ev(n.b, env));
      case "cmp":
        var a = ev(n.a, env), b = ev(n.b, env);
        switch (n.op) {
          case "==": return eq(a, b);
          case "!=": return !eq(a, b);
          case "is": return a === b || (a == null && b == null);
          case "is not": return !(a === b || (a == null && b == null));
          case "in": return contains(b, a);
          case "not in": return !contains(b, a);
          default:
            if (a === null || b === null || typeof a !== typeof b) return false;
            return n.op === "<" ? a < b : n.op === "<=" ? a <= b : n.op === ">" ? a > b : a >= b;
        }
    }
    return null;
  }
  function truthy(v) { return !(v === null || v === undefined || v === false || v === 0 || v === "" || (Array.isArray(v) && v.length === 0)); }

  function fieldValue(form, wrap) {
    var type = wrap.getAttribute("data-type"), name = "f." + wrap.getAttribute("data-field");
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    if (!inputs.length) return null;
    if (type === "multiselect") return Array.prototype.filter.call(inputs, function (x) { return x.checked; }).map(function (x) { return coerceOption(x.value); });
    if (type === "boolean") {
      var picked = Array.prototype.filter.call(inputs, function (x) { return (x.type !== "checkbox" && x.type !== "radio") ? false : x.checked; });
      if (picked.length) return picked[picked.length - 1].value === "true";
      return inputs[0].type === "hidden" ? false : null;
    }
    var el = inputs[0];
    if (el.type === "radio") { var r = Array.prototype.find.call(inputs, function (x) { return x.checked; }); return r ? coerceOption(r.value) : null; }
    var v = (el.value || "").trim();
    if (v === "") return null;
    if (type === "number" || type === "integer") { var num = Number(v.replace(/[０-９]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); })); return isNaN(num) ? v : num; }
    if (type === "select") return coerceOption(v);
    return v;
  }
  function coerceOption(v) { return /^-?\d+$/.test(v) ? parseInt(v, 10) : v; }

  function applyVisibility(form) {
    var env = {};
    try { env = JSON.parse(form.getAttribute("data-context") || "{}"); } catch (e) { env = {}; }
    var wraps = form.querySelectorAll(".field[data-field]");
    wraps.forEach(function (w) { env[w.getAttribute("data-field")] = fieldValue(form, w); });
    wraps.forEach(function (w) {
      var cond = w.getAttribute("data-visible-if");
      if (!cond) return;
      var show = true;
      try { show = truthy(ev(parse(cond), env)); } catch (e) { show = true; }
      w.hidden = !show;
      w.querySelectorAll("input, select, textarea").forEach(function (x) { x.disabled = !show; });
    });
  }

  // ---- dependent pickers: an org chosen within the org of another field (所属村 within 所属乡镇) ----
  function applyWithin(form) {
    form.querySelectorAll("select[data-within]").forEach(function (sel) {
      var outer = form.querySelector("select[name='" + sel.getAttribute("data-within") + "']");
      var chosen = outer && outer.selectedOptions[0];
      var prefix = chosen && chosen.value ? (chosen.getAttribute("data-path") || "") : "";
      sel.querySelectorAll("option[data-path]").forEach(function (o) {
        var inside = !prefix || o.getAttribute("data-path").indexOf(prefix) === 0;
        o.hidden = !inside; o.disabled = !inside;
        if (!inside && o.selected) sel.value = "";
      });
    });
  }

  // ---- repeating table rows --------------------------------------------------------------------
  function renumber(table) {
    var name = table.getAttribute("data-name");
    table.querySelectorAll("tbody tr").forEach(function (tr, idx) {
      tr.querySelectorAll("[name]").forEach(function (el) {
        el.name = el.name.replace(new RegExp("^f\\." + name + "\\.\\d+\\."), "f." + name + "." + idx + ".");
      });
    });
  }
  function addRow(table) {
    var rows = table.querySelectorAll("tbody tr"), max = parseInt(table.getAttribute("data-max") || "0", 10);
    if (max && rows.length >= max) return;
    var tpl = rows[rows.length - 1].cloneNode(true);
    tpl.classList.remove("blank-row");
    tpl.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") el.checked = false; else el.value = "";
    });
    tpl.querySelectorAll(".error").forEach(function (e) { e.remove(); });
    tpl.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
    table.querySelector("tbody").appendChild(tpl);
    renumber(table);
    var first = tpl.querySelector("input, select, textarea");
    if (first) first.focus();
  }

  document.addEventListener("click", function (e) {
    var add = e.target.closest("[data-add-row]");
    if (add) { addRow(document.getElementById(add.getAttribute("data-add-row"))); return; }
    var rm = e.target.closest("[data-remove-row]");
    if (rm) {
      var table = rm.closest("table"), tr = rm.closest("tr");
      if (table.querySelectorAll("tbody tr").length > 1) tr.remove();
      else tr.querySelectorAll("input, select, textarea").forEach(function (el) { el.value = ""; });
      renumber(table);
      var form = table.closest("form");
      if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
      return;
    }
    var phrase = e.target.closest("[data-phrase]");
    if (phrase) {
      var box = document.getElementById("opinion");
      box.value = box.value ? box.value.replace(/\s*$/, "") + "；" + phrase.getAttribute("data-phrase") : phrase.getAttribute("data-phrase");
      box.focus();
    }
  });

  function init() {
    document.body.classList.add("has-js");
    // 案件查询 on a phone: the form of a search made is folded, so its results come first; on a
    // wider screen every filter stands open.
    if (window.matchMedia("(min-width: 721px)").matches) {
      document.querySelectorAll("details[data-more-filters]").forEach(function (d) { d.open = true; });
    } else {
      document.querySelectorAll("details[data-filters-fold][data-searched]").forEach(function (d) { d.open = false; });
    }
    document.querySelectorAll("form.task-form").forEach(function (form) {
      applyVisibility(form);
      applyWithin(form);
      form.addEventListener("input", function () { applyVisibility(form); });
      form.addEventListener("change", function () { applyWithin(form); applyVisibility(form); });
      // A double click must not submit twice; the server answers a repeat with 409 anyway.
      form.addEventListener("submit", function (ev) {
        if (form.dataset.sent === "1") { ev.preventDefault(); return; }
        var b = ev.submitter;
        if (b && b.value !== "draft") { form.dataset.sent = "1"; setTimeout(function () { form.dataset.sent = ""; }, 8000); }
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  window.PinganVisibleIf = { parse: parse, evaluate: function (src, env) { return truthy(ev(parse(src), env || {})); } };
})();
