// Scenarios: run the draft's tests/scenarios/<key>/*.yaml on a throwaway database with simulated time
// (pass/fail, the failing step and its message, the path taken on the diagram), and record a new one by
// playing the draft: start it, fill each task's form as a chosen person, advance time, save.
import { L, api, el } from './common.js';
import { formValues, schemaForm } from './schemaform.js';

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const zone = document.getElementById('play-box').dataset.tz || undefined;
  return new Intl.DateTimeFormat('zh-CN', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
                                            hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
}

export class TestTab {
  constructor({ files, api: base, processKey, markPath, save, draft }) {
    Object.assign(this, { files, base, processKey, markPath, save, draft });
    this.box = document.getElementById('test-results');
    this.summary = document.getElementById('test-summary');
    this.playBox = document.getElementById('play-box');
    this.play = null;
    document.getElementById('test-run').addEventListener('click', () => this.run());
  }

  scenarioPaths() {
    const prefix = `tests/scenarios/${this.processKey}/`;
    return Object.keys(this.files).filter((p) => p.startsWith(prefix) && p.endsWith('.yaml')).sort();
  }

  render(results) {
    const byFile = new Map((results || []).map((r) => [r.file, r]));
    const paths = this.scenarioPaths();
    for (const r of results || []) if (!paths.includes(r.file)) paths.push(r.file);
    if (!paths.length) {
      this.box.replaceChildren(el('li', { class: 'muted' }, L('本流程还没有场景。可在下方录制一个。', 'No scenarios yet; record one below.')));
    } else {
      this.box.replaceChildren(...paths.map((path) => this.item(path, byFile.get(path))));
    }
    this.renderPlay();
  }

  item(path, r) {
    const name = path.split('/').pop().replace(/\.yaml$/, '');
    const badge = !r ? el('span', { class: 'chip' }, L('未运行', 'not run'))
      : r.passed ? el('span', { class: 'chip chip-green' }, L('通过', 'passed')) : el('span', { class: 'chip chip-red' }, L('失败', 'failed'));
    const step = r && r.failing_step;
    return el('li', { class: `scenario${r && !r.passed ? ' failed' : ''}`, 'data-scenario': name },
      el('div', { class: 'scenario-head' }, badge, el('strong', {}, name), r && r.title ? el('span', { class: 'muted' }, r.title) : null,
         r && r.path && r.path.length ? el('button', { type: 'button', class: 'btn btn-small',
                                                       onclick: () => this.markPath(r.path, step ? (r.open_tasks || [])[0] : null) },
                                          L('在图上查看路径', 'Show the path')) : null),
      r && !r.passed ? el('div', { class: 'scenario-fail' },
        step ? el('div', {}, L('失败步骤：', 'Failing step: '), step.description) : null,
        el('div', { class: 'error' }, L(r.message, r.message_en || r.message))) : null);
  }

  async run() {
    const button = document.getElementById('test-run');
    button.disabled = true;
    this.summary.textContent = L('正在运行…', 'Running…');
    this.summary.className = '';
    try {
      if (!(await this.save())) { this.summary.textContent = L('草稿未保存，未运行', 'Draft not saved; not run'); return; }
      const result = await api('POST', `${this.base}/test`, {});
      const list = result.scenarios || [];
      this.summary.textContent = result.failed
        ? L(`${list.length} 个场景，${result.failed} 个失败（用时 ${result.seconds} 秒）`, `${list.length} scenarios, ${result.failed} failed`)
        : L(`${list.length} 个场景全部通过（用时 ${result.seconds} 秒）`, `All ${list.length} scenarios passed`);
      this.summary.className = result.failed ? 'error' : 'ok-text';
      this.render(list);
    } catch (err) {
      this.summary.textContent = L(`运行失败：${err.message}`, `Run failed: ${err.message}`);
      this.summary.className = 'error';
    } finally {
      button.disabled = false;
    }
  }

  // ---- recording by playing ----------------------------------------------------------------------

  async call(method, suffix, body) {
    const error = this.playBox.querySelector('.play-error');
    try {
      const view = await api(method, `${this.base}/play/${this.play.id}${suffix}`, body);
      if (error) error.textContent = '';
      return view;
    } catch (err) {
      const label = (field) => {
        const node = field && this.playBox.querySelector(`[data-field="${CSS.escape(field)}"] > .label`);
        return node ? node.firstChild.textContent : field;
      };
      const details = (err.body.details || []).map((d) => `${d.field ? label(d.field) + '：' : ''}${L(d.message, d.message_en)}`).join('；');
      if (error) error.textContent = details ? `${err.message}：${details}` : err.message;
      throw err;
    }
  }

  // A refused step has already said why next to the form (call()); nothing is left unhandled.
  async act(fn) {
    try { await fn(); } catch (err) { if (!(err && err.status)) throw err; }
  }

  async startPlay() {
    const error = this.playBox.querySelector('.play-error');
    if (!(await this.save())) { error.textContent = L('草稿未保存，不能试运行', 'The draft is not saved'); return; }
    try {
      this.play = await api('POST', `${this.base}/play`);
    } catch (err) {
      const details = (err.body.details || []).slice(0, 5).map((d) => L(d.message, d.message_en)).join('；');
      error.textContent = details ? `${err.message}：${details}` : err.message;
      return;
    }
    this.renderPlay();
  }

  renderPlay() {
    const box = this.playBox;
    if (!this.play) {
      box.replaceChildren(el('h3', {}, L('录制新场景', 'Record a scenario')),
        el('p', { class: 'muted small' }, L('在临时数据库中试运行草稿：发起、逐步办理（选择办理人、填写表单）、推进模拟时间，最后保存为场景。',
                                            'Play the draft on a throwaway database: start, act on each task, advance time, then save it as a scenario.')),
        el('button', { type: 'button', class: 'btn', id: 'play-start', onclick: () => this.startPlay() }, L('开始试运行', 'Start playing')),
        el('p', { class: 'error play-error', role: 'alert' }));
      return;
    }
    const v = this.play;
    const parts = [el('h3', {}, L('试运行', 'Playing'), ' ', el('span', { class: 'muted small' }, L(`模拟时间 ${when(v.now)}`, `Simulated time ${when(v.now)}`))),
                   el('p', { class: 'error play-error', role: 'alert' })];
    if (!v.started) {
      const form = schemaForm(v.start_form || {});
      const who = el('select', { id: 'play-starter' }, v.starters.map((p) => el('option', { value: p.username }, `${p.name}（${p.org}）`)));
      parts.push(el('div', { class: 'play-task', 'data-task': 'start' }, el('h4', {}, L('发起案件', 'Start the case')),
        el('label', { class: 'label' }, L('发起人', 'Started by')), who, form,
        el('button', { type: 'button', class: 'btn btn-primary', onclick: () => this.act(async () => {
          this.play = await this.call('POST', '/start', { as: who.value, data: formValues(form) }); this.renderPlay();
        }) }, L('发起', 'Start'))));
    } else {
      const c = v.case || {};
      parts.push(el('p', {}, L('案件：', 'Case: '), el('b', {}, c.title || c.business_key || ''), ' · ',
        c.status === 'completed' ? L(`已办结（${c.end_event || ''}）`, `completed (${c.end_event || ''})`) : L('办理中', 'running'),
        v.path.length ? el('button', { type: 'button', class: 'btn btn-small', onclick: () => this.markPath(v.path) }, L('在图上查看路径', 'Show the path')) : null));
      for (const task of v.tasks) {
        const form = schemaForm(task.form_schema || {});
        const who = el('select', {}, task.candidates.map((p) => el('option', { value: p.username }, `${p.name}（${p.org}）`)));
        parts.push(el('div', { class: 'play-task', 'data-task': task.element_id },
          el('h4', {}, task.name, ' ', el('code', { class: 'small' }, task.element_id),
             task.due_at ? el('span', { class: 'muted small' }, L(` 期限 ${when(task.due_at)}`, ` due ${when(task.due_at)}`)) : null),
          el('label', { class: 'label' }, L('办理人', 'Acting as')),
          task.candidates.length ? who : el('p', { class: 'error' }, L('示范县中没有可以办理此任务的用户', 'No demo user may act on this task')),
          form,
          el('button', { type: 'button', class: 'btn btn-primary', onclick: () => this.act(async () => {
            this.play = await this.call('POST', `/tasks/${task.id}/complete`, { as: who.value, data: formValues(form) }); this.renderPlay();
          }) }, L('办理', 'Complete'))));
      }
      const amount = el('input', { type: 'number', min: 1, value: 1, id: 'play-amount', style: 'width:6em' });
      const unit = el('select', { id: 'play-unit' }, el('option', { value: 'days' }, L('天', 'days')),
                      el('option', { value: 'workdays' }, L('个工作日', 'working days')), el('option', { value: 'hours' }, L('小时', 'hours')));
      parts.push(el('div', { class: 'play-time' },
        v.timers.length ? el('p', { class: 'small' }, L('等待中的定时器：', 'Waiting timers: '),
                             v.timers.map((t) => `${t.element_id} ${when(t.due_at)}`).join('；')) : null,
        L('推进时间 ', 'Advance '), amount, unit,
        el('button', { type: 'button', class: 'btn', onclick: () => this.act(async () => {
          const body = {}; body[unit.value] = Number(amount.value);
          this.play = await this.call('POST', '/advance', body); this.renderPlay();
        }) }, L('推进', 'Advance'))));
    }
    const name = el('input', { id: 'play-name', placeholder: 'not_accepted_reviewed', pattern: '[\\w-]+' });
    const title = el('input', { id: 'play-title', placeholder: L('场景说明，如：不予受理经复核', 'What the scenario shows') });
    const overwrite = el('input', { type: 'checkbox', id: 'play-overwrite' });
    parts.push(el('div', { class: 'play-save' },
      el('p', { class: 'small muted' }, L(`已录制 ${v.steps.length} 步`, `${v.steps.length} steps recorded`)),
      el('label', { class: 'label', for: 'play-name' }, L('场景名称（文件名）', 'Scenario name')), name,
      el('label', { class: 'label', for: 'play-title' }, L('场景说明', 'Title')), title,
      el('label', { class: 'choice' }, overwrite, L(' 同名场景存在时覆盖', ' Replace a scenario of that name')),
      el('div', { class: 'form-actions' },
        el('button', { type: 'button', class: 'btn btn-primary', id: 'play-save', disabled: !v.started, onclick: () => this.act(() => this.saveRecording(name.value.trim(), title.value.trim(), overwrite.checked)) },
           L('保存为场景', 'Save as a scenario')),
        el('button', { type: 'button', class: 'btn', onclick: () => this.endPlay() }, L('结束试运行', 'Stop playing')))));
    box.replaceChildren(...parts);
  }

  async saveRecording(name, title, overwrite) {
    const error = this.playBox.querySelector('.play-error');
    if (!/^[\w-]+$/.test(name)) { error.textContent = L('请填写场景名称：字母、数字、下划线或连字符', 'Name the scenario: letters, digits, _ or -'); return; }
    if (!(await this.save())) { error.textContent = L('草稿未保存，不能保存场景', 'The draft is not saved'); return; }
    const body = { name, base_revision: this.draft.revision, overwrite };
    if (title) body.title = title;
    const saved = await this.call('POST', '/save', body);
    const file = await api('GET', `${this.base}/files/${saved.path}`);
    this.files[saved.path] = file.text;
    this.draft.setRevision(saved.revision);
    await this.endPlay();
    this.summary.textContent = L(`已保存场景 ${saved.path}`, `Saved ${saved.path}`);
    this.summary.className = 'ok-text';
    this.render();
    if (this.onFilesChanged) this.onFilesChanged();
  }

  async endPlay() {
    if (this.play) {
      try { await api('DELETE', `${this.base}/play/${this.play.id}`); } catch (err) { /* it expires on its own */ }
    }
    this.play = null;
    this.renderPlay();
  }
}
