// The draft editor: BPMN modeler with Pingan's properties, DMN tables, forms with a live preview,
// parameters as a form, saving with the draft's revision, live validation, scenarios, deploy.
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import DmnModeler from 'dmn-js/lib/Modeler';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/assets/properties-panel.css';
import 'dmn-js/dist/assets/diagram-js.css';
import 'dmn-js/dist/assets/dmn-js-shared.css';
import 'dmn-js/dist/assets/dmn-js-drd.css';
import 'dmn-js/dist/assets/dmn-js-decision-table.css';
import 'dmn-js/dist/assets/dmn-js-decision-table-controls.css';
import 'dmn-js/dist/assets/dmn-js-literal-expression.css';
import 'dmn-js/dist/assets/dmn-font/css/dmn-embedded.css';
import './studio.css';

import spiffModdle from './spiffworkflow.json';
import { PinganPropertiesModule } from './props.js';
import { TranslateModule } from './translate.js';
import { L, api, debounce, el, pageData, standardCorrelation } from './common.js';
import { FormsTab } from './forms.js';
import { ParamsTab } from './params.js';
import { TestTab } from './tests.js';

const data = pageData();
const draft = data.draft;
const API = `/api/v1/drafts/${draft.id}`;
const files = Object.assign({}, data.files);
const dirty = new Set();
const state = { revision: draft.revision, conflict: null, saving: null, problems: [] };
window.PINGAN_STUDIO = { processKey: draft.process_key, roles: data.roles };
window.studioTimings = {};

const status = document.getElementById('save-status');
function say(text, kind) {
  status.textContent = text;
  status.className = `save-status ${kind || ''}`;
}

// ---- files and saving ----------------------------------------------------------------------------

export function setFile(path, text) {
  if (files[path] === text) return;
  files[path] = text;
  dirty.add(path);
  say(L('有未保存的修改…', 'Unsaved changes…'), 'pending');
  autosave();
}

async function saveAll() {
  if (state.conflict) return false;
  if (state.saving) await state.saving;
  const paths = [...dirty];
  if (!paths.length) return true;
  state.saving = (async () => {
    say(L('正在保存…', 'Saving…'), 'pending');
    for (const path of paths) {
      const text = files[path];
      try {
        const result = await api('PUT', `${API}/files/${path}`, { text, base_revision: state.revision });
        state.revision = result.revision;
        if (files[path] === text) dirty.delete(path);
      } catch (err) {
        if (err.status === 409) {
          showConflict(err);
          say(L('未保存：有冲突', 'Not saved: conflict'), 'error');
          return false;
        }
        say(L(`保存失败：${err.message}`, `Save failed: ${err.message}`), 'error');
        return false;
      }
    }
    setRevision(state.revision);
    say(L('已保存', 'Saved'), 'ok');
    return true;
  })();
  const ok = await state.saving;
  state.saving = null;
  if (ok) validate();
  return ok;
}

const autosave = debounce(saveAll, 1200);

function showConflict(err) {
  state.conflict = err;
  const box = document.getElementById('conflict');
  box.hidden = false;
  box.querySelector('.conflict-text').textContent = err.message;
}

document.getElementById('conflict-take-mine').addEventListener('click', async () => {
  // The designer has read the warning and chooses to save over the other designer's revision.
  const current = await api('GET', API);
  state.revision = current.revision;
  state.conflict = null;
  document.getElementById('conflict').hidden = true;
  await saveAll();
});

document.getElementById('save-now').addEventListener('click', async () => {
  await syncEditors();
  autosave.cancel();
  await saveAll();
});

window.addEventListener('beforeunload', (event) => {
  if (dirty.size) { event.preventDefault(); event.returnValue = ''; }
});

// ---- validation ----------------------------------------------------------------------------------

const problemList = document.getElementById('problems');
let marked = [];

async function validate() {
  let result;
  try {
    result = await api('POST', `${API}/validate`);
  } catch (err) {
    problemList.replaceChildren(el('li', { class: 'problem' }, L(`校验失败：${err.message}`, `Validation failed: ${err.message}`)));
    return;
  }
  state.problems = result.problems || [];
  showProblems();
}
const validateSoon = debounce(validate, 600);

function showProblems() {
  const canvas = bpmn.get('canvas'), registry = bpmn.get('elementRegistry');
  marked.forEach((id) => registry.get(id) && canvas.removeMarker(id, 'lint-error'));
  marked = [];
  const count = document.getElementById('problem-count');
  count.textContent = state.problems.length;
  count.className = `count ${state.problems.length ? 'bad' : 'good'}`;
  if (!state.problems.length) {
    problemList.replaceChildren(el('li', { class: 'problem none' }, L('校验通过，没有发现问题', 'No problems found')));
    return;
  }
  problemList.replaceChildren(...state.problems.map((p) => {
    if (p.element_id && registry.get(p.element_id) && p.file === bpmnPath) {
      canvas.addMarker(p.element_id, 'lint-error');
      marked.push(p.element_id);
    }
    const where = [p.file, p.line ? L(`第 ${p.line} 行`, `line ${p.line}`) : '', p.element_id].filter(Boolean).join(' · ');
    return el('li', { class: 'problem', tabindex: 0, 'data-element': p.element_id || '', onclick: () => jumpTo(p),
                      onkeydown: (e) => { if (e.key === 'Enter') jumpTo(p); } },
              el('span', { class: 'problem-text' }, L(p.message, p.message_en)), el('small', { class: 'muted' }, where));
  }));
}

function jumpTo(problem) {
  const file = problem.file || '';
  if (file.startsWith('forms/')) { showTab('forms'); forms.open(file, problem.line); return; }
  if (file.endsWith('.dmn')) { showTab('dmn'); openDmn(file); return; }
  if (file === paramsPath) { showTab('params'); return; }
  showTab('diagram');
  const registry = bpmn.get('elementRegistry');
  const target = problem.element_id && registry.get(problem.element_id);
  if (target) {
    bpmn.get('canvas').scrollToElement(target);
    bpmn.get('selection').select(target);
  }
}

// ---- tabs ----------------------------------------------------------------------------------------

const tabs = document.querySelectorAll('[data-tab]');
function showTab(name) {
  tabs.forEach((b) => b.classList.toggle('on', b.dataset.tab === name));
  document.querySelectorAll('.studio-pane').forEach((p) => { p.hidden = p.id !== `pane-${name}`; });
  if (name === 'diagram') bpmn.get('canvas').resized();
  if (name === 'dmn' && !dmnPath && dmnFiles.length) openDmn(dmnFiles[0]);
}
tabs.forEach((b) => b.addEventListener('click', () => showTab(b.dataset.tab)));

// ---- BPMN ----------------------------------------------------------------------------------------

const bpmnPath = `processes/${draft.process_key}.bpmn`;
const paramsPath = `processes/${draft.process_key}.yaml`;
const bpmn = new BpmnModeler({
  container: '#canvas',
  propertiesPanel: { parent: '#properties' },
  additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, PinganPropertiesModule, TranslateModule],
  moddleExtensions: { spiffworkflow: spiffModdle }
});
window.studioModeler = bpmn;

const syncBpmn = debounce(async () => {
  const { xml } = await bpmn.saveXML({ format: true });
  setFile(bpmnPath, xml);
}, 400);
bpmn.on('commandStack.changed', () => { say(L('有未保存的修改…', 'Unsaved changes…'), 'pending'); syncBpmn(); });

async function openBpmn() {
  const started = performance.now();
  const text = files[bpmnPath];
  try {
    const { warnings } = await bpmn.importXML(standardCorrelation(text || emptyProcess()));
    bpmn.get('canvas').zoom('fit-viewport', 'auto');
    window.studioTimings.open = performance.now() - started;
    window.studioTimings.elements = bpmn.get('elementRegistry').getAll().length;
    say(L('已打开', 'Opened'), 'ok');
    if (warnings && warnings.length) console.warn('BPMN import warnings', warnings.map((w) => w.message).join(' | '));
    if (!text) setFile(bpmnPath, (await bpmn.saveXML({ format: true })).xml);
  } catch (err) {
    document.getElementById('canvas').replaceChildren(el('p', { class: 'error' },
      L(`流程图无法打开：${err.message}`, `The diagram cannot be opened: ${err.message}`)));
  }
}

function emptyProcess() {
  const key = draft.process_key;
  return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="${key}_definitions" targetNamespace="http://pingan.example/bpmn/${key}">
  <bpmn:process id="${key}" name="${draft.name || key}" isExecutable="true">
    <bpmn:startEvent id="start" name="开始" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="${key}">
    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>`;
}

export function markPath(ids, failing) {
  const canvas = bpmn.get('canvas'), registry = bpmn.get('elementRegistry');
  registry.getAll().forEach((e) => { canvas.removeMarker(e.id, 'path-taken'); canvas.removeMarker(e.id, 'path-failed'); });
  (ids || []).forEach((id) => registry.get(id) && canvas.addMarker(id, 'path-taken'));
  if (failing && registry.get(failing)) canvas.addMarker(failing, 'path-failed');
  showTab('diagram');
}

// ---- DMN -----------------------------------------------------------------------------------------

const dmnFiles = Object.keys(files).filter((p) => p.endsWith('.dmn')).sort();
let dmn = null, dmnPath = null;
const dmnPicker = document.getElementById('dmn-files');
dmnFiles.forEach((p) => dmnPicker.append(el('option', { value: p }, p.replace('processes/', ''))));
dmnPicker.addEventListener('change', () => openDmn(dmnPicker.value));
if (!dmnFiles.length) document.getElementById('dmn-canvas').replaceChildren(el('p', { class: 'muted' }, L('本草稿没有决策表文件。', 'This draft has no decision tables.')));

async function openDmn(path) {
  await syncDmn.flush();
  dmnPath = path;
  dmnPicker.value = path;
  if (!dmn) {
    dmn = new DmnModeler({ container: '#dmn-canvas', common: { additionalModules: [TranslateModule] } });
    dmn.on('views.changed', hookDmnViewer);
  }
  await dmn.importXML(files[path]);
  const table = dmn.getViews().find((v) => v.type === 'decisionTable');
  if (table) await dmn.open(table);
}

function hookDmnViewer() {
  const viewer = dmn.getActiveViewer();
  if (viewer && !viewer.__pingan) {
    viewer.__pingan = true;
    viewer.on('elements.changed', () => syncDmn());
  }
}

const syncDmn = debounce(async () => {
  if (!dmn || !dmnPath) return;
  const { xml } = await dmn.saveXML({ format: true });
  setFile(dmnPath, xml);
}, 500);

// ---- forms, parameters, tests --------------------------------------------------------------------

const forms = new FormsTab({ files, setFile, processKey: draft.process_key, previewUrl: data.urls.form_preview });
const params = new ParamsTab({ files, setFile, path: paramsPath });
const tests = new TestTab({ files, api: API, processKey: draft.process_key, markPath, save: async () => { await syncEditors(); return saveAll(); },
                            draft: { get revision() { return state.revision; }, setRevision } });

tests.onFilesChanged = () => forms.render();

function setRevision(revision) {
  state.revision = revision;
  document.getElementById('draft-revision').textContent = revision;
}

async function syncEditors() {
  await syncBpmn.flush();
  await syncDmn.flush();
}

// ---- history: who saved which file when ---------------------------------------------------------

const ACTIONS = { created: L('新建', 'created'), saved: L('保存', 'saved'), removed: L('删除', 'removed'), deployed: L('发布', 'deployed') };
const historyBox = document.getElementById('draft-history');
historyBox.addEventListener('toggle', async () => {
  if (!historyBox.open) return;
  const list = historyBox.querySelector('ol');
  try {
    const rows = await api('GET', `${API}/history`);
    const zone = document.getElementById('play-box').dataset.tz || undefined;
    const fmt = new Intl.DateTimeFormat('zh-CN', { timeZone: zone, month: '2-digit', day: '2-digit', hour: '2-digit',
                                                   minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    list.replaceChildren(...rows.map((r) => el('li', { value: r.revision },
      L(`第 ${r.revision} 版`, `r${r.revision}`), ' · ', fmt.format(new Date(r.saved_at)), ' · ', r.saved_by_name || r.saved_by, ' · ',
      ACTIONS[r.action] || r.action, r.path ? el('code', { class: 'small' }, ` ${r.path}`) : null)));
  } catch (err) {
    list.replaceChildren(el('li', { class: 'error' }, err.message));
  }
});

// ---- deploy --------------------------------------------------------------------------------------

const deployDialog = document.getElementById('deploy-dialog');
document.getElementById('deploy-open').addEventListener('click', () => {
  deployDialog.querySelector('.error').textContent = '';
  deployDialog.showModal();
});
deployDialog.querySelector('[data-close]').addEventListener('click', () => deployDialog.close());
deployDialog.querySelector('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const note = deployDialog.querySelector('textarea').value.trim();
  const error = deployDialog.querySelector('.error');
  if (!note) { error.textContent = L('请填写修改说明：改了什么、为什么改', 'Say what changed and why'); return; }
  await syncEditors();
  if (!(await saveAll())) { error.textContent = L('草稿尚未保存，不能发布', 'The draft is not saved yet'); return; }
  try {
    const result = await api('POST', `${API}/deploy`, { note });
    window.location = data.urls.deployed.replace('__KEY__', result.key).replace('__VERSION__', result.version);
  } catch (err) {
    error.textContent = err.message;
  }
});

// ---- start ---------------------------------------------------------------------------------------

if (window.innerWidth < 900) document.getElementById('narrow-note').hidden = false;
await openBpmn();
validate();
params.render();
forms.render();
tests.render();
export { validateSoon };
