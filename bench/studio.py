"""Part "studio": a validation round trip of a 100-element process over the studio API (goal < 1 s).

The bench generates a process of exactly 100 BPMN elements (user and script tasks in two lanes,
exclusive gateways with conditions, flows, with diagram layout and a form per user task), starts
a draft from it, then times what the editor does on every change: save the BPMN file
(``PUT /api/v1/drafts/{id}/files/...``) and validate the draft (``POST .../validate``). Requests
go through the whole Flask application (authentication, CSRF-free bearer token, JSON, database)
in-process with its test client, so the figure is the server's time without network.
"""
from __future__ import annotations

from .common import CACHE, RESULTS, Result, Stopwatch, at_most, database_url, open_bench_services, percentile, result

ROUND_TRIP_GOAL = at_most(1000.0)  # ms, save + validate, p50


def generate(key: str = "bench_studio", *, elements: int = 100) -> dict[str, str]:
    """Return the files of a valid process with ``elements`` BPMN elements (nodes, flows, lanes, the process)."""
    # Blocks of (user task, gateway, script task): each adds 3 nodes and 4 flows (the gateway's two
    # branches meet at the script task). Fixed: process, lane set, 2 lanes, start, end, last flow.
    blocks = (elements - 7) // 7
    filler = (elements - 7 - 7 * blocks) // 2  # script tasks (node and flow) to land on ``elements``
    nodes, flows, forms, lanes = [], [], {}, {"lane_a": [], "lane_b": []}
    shapes, x = [], 100
    previous = "start"
    nodes.append('<bpmn:startEvent id="start" name="开始"/>')
    lanes["lane_a"].append("start")
    shapes.append(("start", x, 100, 36, 36))
    flow_n = 0

    def flow(source: str, target: str, condition: str | None = None) -> None:
        nonlocal flow_n
        flow_n += 1
        body = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
        flows.append(f'<bpmn:sequenceFlow id="f{flow_n}" sourceRef="{source}" targetRef="{target}">{body}</bpmn:sequenceFlow>')

    for i in range(blocks):
        task, gw, script = f"task_{i}", f"gw_{i}", f"calc_{i}"
        lane = "lane_a" if i % 2 == 0 else "lane_b"
        nodes.append(f'<bpmn:userTask id="{task}" name="办理 {i}"/>')
        nodes.append(f'<bpmn:exclusiveGateway id="{gw}" name="同意？" default="f{flow_n + 4}"/>')
        nodes.append(f'<bpmn:scriptTask id="{script}" name="计算 {i}"><bpmn:script>step_{i} = {i}</bpmn:script></bpmn:scriptTask>')
        lanes[lane] += [task, gw, script]
        flow(previous, task)
        flow(task, gw)
        flow(gw, script, f"ok_{i} == True")
        flow(gw, script)
        forms[f"forms/{key}/{task}.yaml"] = (f"title: 办理 {i}\nfields:\n"
                                             f"  - {{name: ok_{i}, label: 同意 {i}, type: boolean, required: true}}\n")
        for j, node in enumerate((task, gw, script)):
            x += 150
            shapes.append((node, x, 80 if lane == "lane_a" else 280, 100 if j != 1 else 50, 80 if j != 1 else 50))
        previous = script
    for i in range(filler):
        extra = f"extra_{i}"
        nodes.append(f'<bpmn:scriptTask id="{extra}" name="补充 {i}"><bpmn:script>extra_{i} = 1</bpmn:script></bpmn:scriptTask>')
        lanes["lane_a"].append(extra)
        flow(previous, extra)
        x += 150
        shapes.append((extra, x, 80, 100, 80))
        previous = extra
    nodes.append('<bpmn:endEvent id="end" name="办结"/>')
    lanes["lane_a"].append("end")
    flow(previous, "end")
    shapes.append(("end", x + 150, 100, 36, 36))
    lane_xml = "".join(f'<bpmn:lane id="{lane}" name="{"调度员" if lane == "lane_a" else "领导"}">'
                       + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in refs) + "</bpmn:lane>"
                       for lane, refs in lanes.items())
    di = "".join(f'<bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{sx}" y="{sy}" width="{w}" height="{h}"/>'
                 f"</bpmndi:BPMNShape>" for n, sx, sy, w, h in shapes)
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="{key}_defs" targetNamespace="http://pingan.example/bench">
<bpmn:process id="{key}" name="百元素流程" isExecutable="true">
<bpmn:laneSet id="lanes">{lane_xml}</bpmn:laneSet>
{chr(10).join(nodes)}
{chr(10).join(flows)}
</bpmn:process>
<bpmndi:BPMNDiagram id="{key}_diagram"><bpmndi:BPMNPlane id="{key}_plane" bpmnElement="{key}">{di}</bpmndi:BPMNPlane>
</bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
    return {f"processes/{key}.bpmn": bpmn, f"processes/{key}.yaml": "name: 百元素流程\n"} | forms


def count_elements(bpmn: str) -> int:
    """Count the BPMN elements the diff and the modeler see: everything with an id under the process."""
    from engine.studio.diff import _elements

    return len(_elements({"processes/x.bpmn": bpmn}))


def run(*, kind: str, quick: bool) -> list[Result]:
    from engine.org.auth import issue_token
    from engine.settings import load_settings
    from web.app import create_app

    files = generate()
    bpmn_path = "processes/bench_studio.bpmn"
    elements = count_elements(files[bpmn_path])
    svc = open_bench_services(kind)
    url, schema = database_url(kind)
    settings = load_settings(env={}, development=True, database_url=url, database_schema=schema,
                             instance_path=CACHE, timer_mode="off")
    try:
        app = create_app(settings, services=svc)
        client = app.test_client()
        with svc.session() as s:
            headers = {"Authorization": f"Bearer {issue_token(s, username='designer', label='bench')}"}
        created = client.post("/api/v1/drafts", json={"process": "bench_studio"}, headers=headers).get_json()
        draft, revision = created["id"], created["revision"]
        for path, text in files.items():
            answer = client.put(f"/api/v1/drafts/{draft}/files/{path}", json={"text": text, "base_revision": revision},
                                headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"saving {path} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
            revision = answer.get_json()["revision"]
        problems = client.post(f"/api/v1/drafts/{draft}/validate", headers=headers).get_json()["problems"]
        if problems:
            raise RuntimeError(f"the generated process does not validate: {problems[:3]}")
        trips, validations = Stopwatch(), Stopwatch()
        for i in range(3 if quick else 15):
            text = files[bpmn_path].replace('name="办理 0"', f'name="办理 0（第 {i} 次修改）"')
            with trips:
                answer = client.put(f"/api/v1/drafts/{draft}/files/{bpmn_path}",
                                    json={"text": text, "base_revision": revision}, headers=headers)
                revision = answer.get_json()["revision"]
                with validations:
                    checked = client.post(f"/api/v1/drafts/{draft}/validate", headers=headers)
            if checked.status_code != 200 or checked.get_json()["problems"]:
                raise RuntimeError(f"validation round trip failed: {checked.get_data(as_text=True)[:300]}")
    finally:
        svc.dispose()
    note = f"{elements} BPMN elements, {len(files) - 2} forms; Flask test client, no network"
    p50, validate_p50 = percentile(trips.samples, 50), percentile(validations.samples, 50)
    print(f"   studio round trip (save + validate) p50 {p50:.0f} ms against a goal of < 1000 ms; "
          f"validate alone p50 {validate_p50:.0f} ms ({note})", flush=True)
    return [result("studio.validate_round_trip_p50", p50, "ms", kind, goal=ROUND_TRIP_GOAL, note=note),
            result("studio.validate_round_trip_p95", percentile(trips.samples, 95), "ms", kind, note=note),
            result("studio.validate_p50", validate_p50, "ms", kind, note=note)] + browser_figures(kind)


def browser_figures(kind: str) -> list[Result]:
    """The modeler opening the same generated process in Chromium, as tests/browser/test_studio.py last measured it.

    The browser test writes bench/results/studio-browser.json (import and draw, and the whole page until the
    modeler is ready); the bench reports it beside the server figures instead of starting a browser itself.
    """
    import json

    path = RESULTS / "studio-browser.json"
    if not path.exists():
        print("   modeler open: no browser figure yet (run tests/browser/test_studio.py)", flush=True)
        return []
    measured = json.loads(path.read_text(encoding="utf-8"))
    imports = [s["import_ms"] for s in measured["samples"]]
    pages = [s["page_ms"] for s in measured["samples"]]
    note = f"{measured['elements']} BPMN elements, Chromium, measured by tests/browser/test_studio.py"
    print(f"   modeler open p50 {percentile(imports, 50):.0f} ms (page ready {percentile(pages, 50):.0f} ms; {note})",
          flush=True)
    return [result("studio.modeler_open_p50", percentile(imports, 50), "ms", kind, goal=ROUND_TRIP_GOAL, note=note),
            result("studio.modeler_page_ready_p50", percentile(pages, 50), "ms", kind, note=note)]
