"""Render every process diagram to SVG with bpmn-js in headless Chromium, for docs/processes.md.

Usage (from the repository root, after ``make setup`` has installed node_modules)::

    .venv/bin/python processes/tools/render_svg.py              # all processes -> docs/img/*.svg
    .venv/bin/python processes/tools/render_svg.py mediation

Each BPMN diagram (the process and every collapsed subprocess's own plane) becomes one SVG:
``docs/img/<key>.svg`` and ``docs/img/<key>-<subprocess id>.svg``. The pictures are exactly what
the case page's viewer shows, since the same bpmn-js draws both. Needs ``chromium`` on the PATH.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VIEWER = ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-viewer.production.min.js"
OUT = ROOT / "docs" / "img"

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<style>body{margin:0} #canvas{width:4000px;height:2000px}</style>
<script src="%(viewer)s"></script></head><body><div id="canvas"></div><pre id="out"></pre>
<script>
const xml = %(xml)s;
const diagrams = %(diagrams)s;
(async () => {
  const results = {};
  for (const id of diagrams) {
    const viewer = new BpmnJS({container: '#canvas'});
    try {
      await viewer.importXML(xml, id);
      const {svg} = await viewer.saveSVG();
      results[id] = svg;
    } catch (err) {
      results[id] = 'ERROR: ' + err.message;
    }
    viewer.destroy();
  }
  document.getElementById('out').textContent = JSON.stringify(results);
})();
</script></body></html>"""


def render(bpmn: Path) -> dict[str, str]:
    """Return {diagram id: SVG text} for every BPMNDiagram in the file."""
    xml = bpmn.read_text(encoding="utf-8")
    diagrams = re.findall(r'<bpmndi:BPMNDiagram id="([^"]+)"', xml)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise SystemExit("chromium not found")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "render.html"
        page.write_text(PAGE % {"viewer": VIEWER.as_uri(), "xml": json.dumps(xml), "diagrams": json.dumps(diagrams)},
                        encoding="utf-8")
        result = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=True)
    match = re.search(r'<pre id="out">(.*?)</pre>', result.stdout, re.S)
    if not match or not match.group(1).strip():
        raise SystemExit(f"{bpmn.name}: bpmn-js produced nothing\n{result.stderr[-2000:]}")
    rendered = json.loads(html.unescape(match.group(1)))
    errors = {k: v for k, v in rendered.items() if v.startswith("ERROR")}
    if errors:
        raise SystemExit(f"{bpmn.name}: {errors}")
    return rendered


def main(keys: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    files = [ROOT / "processes" / f"{k}.bpmn" for k in keys] if keys else sorted((ROOT / "processes").glob("*.bpmn"))
    for bpmn in files:
        for diagram_id, svg in render(bpmn).items():
            name = bpmn.stem if diagram_id == f"{bpmn.stem}_diagram" else f"{bpmn.stem}-{diagram_id.removesuffix('_diagram')}"
            (OUT / f"{name}.svg").write_text(svg, encoding="utf-8")
            print(f"docs/img/{name}.svg")


if __name__ == "__main__":
    main(sys.argv[1:])
