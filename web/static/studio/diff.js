// The diff page: the old and new diagrams side by side, with the elements the diff found
// added (green, on the new diagram), removed (red, on the old one) and changed (orange, on both).
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import './studio.css';

import spiffModdle from './spiffworkflow.json';
import { L, el, pageData, standardCorrelation } from './common.js';

const data = pageData();
const viewers = [];

// A whole procedure fits only at a size too small to read: centre the first change at a readable size.
function centre(canvas, element) {
  const vb = canvas.viewbox(), scale = 0.9;
  const width = vb.outer.width / scale, height = vb.outer.height / scale;
  canvas.viewbox({ x: element.x + (element.width || 0) / 2 - width / 2, y: element.y + (element.height || 0) / 2 - height / 2,
                   width, height });
}

async function show(container, xml, marks, focus) {
  if (!xml) { container.replaceChildren(el('p', { class: 'muted' }, L('（无流程图）', '(no diagram)'))); return; }
  const viewer = new NavigatedViewer({ container, moddleExtensions: { spiffworkflow: spiffModdle } });
  await viewer.importXML(standardCorrelation(xml));
  const canvas = viewer.get('canvas'), registry = viewer.get('elementRegistry');
  canvas.zoom('fit-viewport', 'auto');
  for (const [cls, ids] of Object.entries(marks)) (ids || []).forEach((id) => registry.get(id) && canvas.addMarker(id, cls));
  const root = canvas.getRootElement();
  const onMainPlane = (e) => { let p = e; while (p.parent) p = p.parent; return p === root; };
  const first = (focus || []).map((id) => registry.get(id))
    .find((e) => e && !e.waypoints && e.type !== 'bpmn:Lane' && onMainPlane(e));
  if (first && canvas.zoom() < 0.6) centre(canvas, first);
  viewers.push(viewer);
  return viewer;
}

// Clicking a changed element in the list centres it on both diagrams.
document.querySelectorAll('[data-element]').forEach((item) => item.addEventListener('click', () => {
  for (const viewer of viewers) {
    const target = viewer.get('elementRegistry').get(item.dataset.element);
    if (target && !target.waypoints) centre(viewer.get('canvas'), target);
    else if (target) viewer.get('canvas').scrollToElement(target);
  }
}));

const e = data.elements || {};
Promise.all([
  show(document.getElementById('diagram-old'), data.old_bpmn, { 'diff-removed': e.removed, 'diff-changed': e.changed },
       [...(e.removed || []), ...(e.changed || []), ...(e.added || [])]),
  show(document.getElementById('diagram-new'), data.new_bpmn, { 'diff-added': e.added, 'diff-changed': e.changed },
       [...(e.added || []), ...(e.changed || [])])
]).then(([before, after]) => {
  // Nothing removed: show the old diagram at the same place as the new one, so the two read side by side.
  if (before && after && !(e.removed || []).length) {
    const vb = after.get('canvas').viewbox();
    before.get('canvas').viewbox({ x: vb.x, y: vb.y, width: vb.width, height: vb.height });
  }
  document.body.dataset.diffReady = '1';
})
  .catch((err) => { document.getElementById('diff-error').hidden = false; document.getElementById('diff-error').textContent = L(`流程图无法显示：${err.message}`, `The diagrams cannot be shown: ${err.message}`); });
