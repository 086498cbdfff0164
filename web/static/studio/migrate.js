// Moving running cases: choose them (all of a version, those at one step, or a list), dry run to see
// per case whether it can move and why not, then run the move as a job and follow its progress.
import './studio.css';
import { L, api, el } from './common.js';

const form = document.getElementById('migrate-form');
const table = document.getElementById('dry-run');
const runButton = document.getElementById('migrate-run');
const message = document.getElementById('migrate-message');
const progress = document.getElementById('migrate-progress');

function request(dryRun) {
  const data = new FormData(form);
  const body = { process: form.dataset.process, to_version: Number(data.get('to_version')), dry_run: dryRun };
  if (data.get('from_version')) body.from_version = Number(data.get('from_version'));
  const mode = data.get('mode');
  if (mode === 'step') {
    if (!data.get('step').trim()) throw new Error(L('请填写当前步骤（任务编号）', 'Enter the current step (task id)'));
    body.step = data.get('step').trim();
  }
  if (mode === 'list') {
    const ids = data.get('cases').split(/[\s,，、]+/).filter(Boolean);
    if (!ids.length || ids.some((x) => !/^\d+$/.test(x))) throw new Error(L('请填写案件号（数字），用逗号或空格分隔', 'Enter case ids (numbers)'));
    body.instances = ids.map(Number);
  }
  return body;
}

function rows(cases) {
  return cases.map((c) => el('tr', { 'data-case': c.id, class: c.ok ? '' : 'refused' },
    el('td', { class: 'primary' }, el('a', { href: `/cases/${c.id}`, target: '_blank' }, c.business_key || `#${c.id}`)),
    el('td', { 'data-label': L('结果', 'Result') }, c.ok === undefined || c.ok === null ? '…'
      : c.ok ? el('span', { class: 'chip chip-green' }, L('可以迁移', 'can move')) : el('span', { class: 'chip chip-red' }, L('不能迁移', 'cannot move'))),
    el('td', { 'data-label': L('说明', 'Reason') }, L(c.reason || '', c.reason_en || c.reason || ''))));
}

function showCases(cases, done) {
  table.hidden = false;
  table.querySelector('tbody').replaceChildren(...rows(cases));
  const ok = cases.filter((c) => c.ok).length;
  message.textContent = done
    ? L(`已迁移 ${ok} 个案件，${cases.length - ok} 个未迁移（保持原样）`, `${ok} moved, ${cases.length - ok} left as they were`)
    : L(`共 ${cases.length} 个案件：${ok} 个可以迁移，${cases.length - ok} 个不能`, `${cases.length} cases: ${ok} can move, ${cases.length - ok} cannot`);
  message.className = '';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  runButton.disabled = true;
  try {
    const result = await api('POST', '/api/v1/migrations', request(true));
    showCases(result.cases || [], false);
    runButton.disabled = !(result.cases || []).some((c) => c.ok);
  } catch (err) {
    message.textContent = err.message;
    message.className = 'error';
  }
});

runButton.addEventListener('click', async () => {
  let body;
  try {
    body = request(false);
  } catch (err) {
    message.textContent = err.message;
    message.className = 'error';
    return;
  }
  runButton.disabled = true;
  form.querySelectorAll('button, input, select, textarea').forEach((x) => { x.disabled = true; });
  try {
    const started = await api('POST', '/api/v1/migrations', body);
    progress.hidden = false;
    await follow(started.job);
  } catch (err) {
    message.textContent = err.message;
    message.className = 'error';
    document.body.dataset.migrated = 'error';
  } finally {
    form.querySelectorAll('button, input, select, textarea').forEach((x) => { x.disabled = false; });
  }
});

async function follow(job) {
  const bar = progress.querySelector('.progress > div'), label = progress.querySelector('.progress-text');
  for (;;) {
    const state = await api('GET', `/api/v1/migrations/${job}`);
    const pct = state.total ? Math.round((100 * state.done) / state.total) : 100;
    bar.style.width = `${pct}%`;
    progress.querySelector('.progress').setAttribute('aria-valuenow', pct);
    label.textContent = L(`${state.done} / ${state.total}`, `${state.done} / ${state.total}`);
    if (state.cases && state.cases.length) showCases(state.cases, false);
    if (state.status === 'done' || state.status === 'failed') {
      showCases(state.cases || [], true);
      if (state.status === 'failed') {
        message.textContent = L(`迁移中断：${state.error || ''}。已迁移的案件保持迁移后的状态，其余未动。`,
                                `The migration stopped: ${state.error || ''}. Cases moved stay moved; the rest are untouched.`);
        message.className = 'error';
      }
      document.body.dataset.migrated = state.status;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}
