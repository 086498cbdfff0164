// Scenarios: run the draft's tests/scenarios/<key>/*.yaml on a throwaway database; show pass/fail,
// the failing step and its message, and the path taken on the diagram.
import { L, api, el } from './common.js';

export class TestTab {
  constructor({ files, setFile, api: base, processKey, markPath, save }) {
    Object.assign(this, { files, setFile, base, processKey, markPath, save });
    this.box = document.getElementById('test-results');
    this.summary = document.getElementById('test-summary');
    document.getElementById('test-run').addEventListener('click', () => this.run());
  }

  scenarioPaths() {
    const prefix = `tests/scenarios/${this.processKey}/`;
    return Object.keys(this.files).filter((p) => p.startsWith(prefix) && p.endsWith('.yaml')).sort();
  }

  render(results) {
    const byName = new Map((results || []).map((r) => [r.name, r]));
    const names = this.scenarioPaths().map((p) => p.split('/').pop().replace(/\.yaml$/, ''));
    for (const r of results || []) if (!names.includes(r.name)) names.push(r.name);
    if (!names.length) {
      this.box.replaceChildren(el('li', { class: 'muted' }, L('本流程还没有场景。可在下方录制一个。', 'No scenarios yet; record one below.')));
      return;
    }
    this.box.replaceChildren(...names.map((name) => {
      const r = byName.get(name);
      const badge = !r ? el('span', { class: 'badge muted' }, L('未运行', 'not run'))
        : r.passed ? el('span', { class: 'badge ok' }, L('通过', 'passed')) : el('span', { class: 'badge bad' }, L('失败', 'failed'));
      return el('li', { class: `scenario${r && !r.passed ? ' failed' : ''}`, 'data-scenario': name },
        el('div', { class: 'scenario-head' }, badge, el('strong', {}, name),
           r && r.path && r.path.length ? el('button', { type: 'button', class: 'btn small', onclick: () => this.markPath(r.path, r.failing_step) },
                                            L('在图上查看路径', 'Show path')) : null),
        r && !r.passed ? el('div', { class: 'scenario-fail' },
          r.failing_step ? el('div', {}, L('失败步骤：', 'Failing step: '), el('code', {}, String(r.failing_step))) : null,
          el('div', { class: 'error' }, L(r.message || '', r.message_en || r.message || ''))) : null);
    }));
  }

  async run() {
    const button = document.getElementById('test-run');
    button.disabled = true;
    this.summary.textContent = L('正在运行…', 'Running…');
    try {
      if (!(await this.save())) { this.summary.textContent = L('草稿未保存，未运行', 'Draft not saved; not run'); return; }
      const result = await api('POST', `${this.base}/test`);
      const list = result.scenarios || [];
      const failed = list.filter((r) => !r.passed).length;
      this.summary.textContent = failed ? L(`${list.length} 个场景，${failed} 个失败`, `${list.length} scenarios, ${failed} failed`)
        : L(`${list.length} 个场景全部通过`, `All ${list.length} scenarios passed`);
      this.summary.className = failed ? 'error' : 'ok';
      this.render(list);
    } catch (err) {
      this.summary.textContent = L(`运行失败：${err.message}`, `Run failed: ${err.message}`);
      this.summary.className = 'error';
    } finally {
      button.disabled = false;
    }
  }
}
