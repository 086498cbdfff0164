// Forms: the YAML definitions in a text area, beside a preview the server renders with the task page's macros.
import { L, debounce, el } from './common.js';

const NEW_FORM = (title) => `# ${title}\ntitle: ${title}\nfields:\n  - {name: opinion_text, label: 审核意见, type: textarea, required: true}\n`;

export class FormsTab {
  constructor({ files, setFile, processKey, previewUrl }) {
    Object.assign(this, { files, setFile, processKey, previewUrl });
    this.list = document.getElementById('form-list');
    this.text = document.getElementById('form-text');
    this.preview = document.getElementById('form-preview');
    this.title = document.getElementById('form-path');
    this.current = null;
    this.refresh = debounce(() => this.renderPreview(), 400);
    this.text.addEventListener('input', () => {
      if (!this.current) return;
      this.setFile(this.current, this.text.value);
      this.refresh();
    });
    this.text.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return;  // indentation is spaces in YAML: Tab inserts two of them
      event.preventDefault();
      const { selectionStart: start, selectionEnd: end, value } = this.text;
      this.text.value = value.slice(0, start) + '  ' + value.slice(end);
      this.text.selectionStart = this.text.selectionEnd = start + 2;
      this.text.dispatchEvent(new Event('input'));
    });
    document.getElementById('form-new').addEventListener('click', () => this.create());
  }

  paths() {
    const prefix = `forms/${this.processKey}/`;
    return Object.keys(this.files).filter((p) => p.startsWith('forms/') && p.endsWith('.yaml'))
      .sort((a, b) => (a.startsWith(prefix) ? 0 : 1) - (b.startsWith(prefix) ? 0 : 1) || a.localeCompare(b));
  }

  scenarioPaths() {
    return Object.keys(this.files).filter((p) => p.startsWith('tests/scenarios/') && p.endsWith('.yaml')).sort();
  }

  render() {
    const button = (p, label) => el('li', {}, el('button', { type: 'button', class: `linklike${p === this.current ? ' on' : ''}`,
                                                               'data-path': p, onclick: () => this.open(p) }, label));
    const scenarios = this.scenarioPaths();
    this.list.replaceChildren(
      ...this.paths().map((p) => button(p, p.replace(`forms/${this.processKey}/`, ''))),
      ...(scenarios.length ? [el('li', { class: 'muted small list-head' }, L('场景文件', 'Scenario files'))] : []),
      ...scenarios.map((p) => button(p, p.replace(`tests/scenarios/${this.processKey}/`, ''))));
    if (!this.current && this.paths().length) this.open(this.paths()[0]);
  }

  open(path, line) {
    this.current = path;
    this.title.textContent = path;
    this.text.value = this.files[path] || '';
    this.list.querySelectorAll('button').forEach((b) => b.classList.toggle('on', b.dataset.path === path));
    if (line) {
      const offset = this.text.value.split('\n').slice(0, line - 1).join('\n').length + (line > 1 ? 1 : 0);
      this.text.focus();
      this.text.setSelectionRange(offset, offset);
    }
    this.renderPreview();
  }

  create() {
    const input = document.getElementById('form-new-name');
    const name = input.value.trim();
    const error = document.getElementById('form-new-error');
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
      error.textContent = L('表单名须与人工任务编号相同：小写字母、数字和下划线，如 review', 'Use the user task id: lower-case letters, digits, _');
      return;
    }
    const path = `forms/${this.processKey}/${name}.yaml`;
    if (this.files[path] !== undefined) { error.textContent = L('已有同名表单', 'That form exists'); return; }
    error.textContent = '';
    input.value = '';
    this.setFile(path, NEW_FORM(name));
    this.current = path;
    this.render();
    this.open(path);
  }

  async renderPreview() {
    if (!this.current) return;
    if (!this.current.startsWith('forms/')) {
      this.preview.replaceChildren(el('p', { class: 'muted' }, L('场景文件没有预览；在“测试”中运行它。', 'Scenarios have no preview; run them under Tests.')));
      return;
    }
    const body = new FormData();
    body.append('yaml', this.text.value);
    body.append('path', this.current);
    const meta = document.querySelector('meta[name=csrf-token]');
    try {
      const response = await fetch(this.previewUrl, { method: 'POST', body, credentials: 'same-origin',
                                                       headers: { 'X-CSRFToken': meta ? meta.content : '' } });
      this.preview.innerHTML = await response.text();
    } catch (err) {
      this.preview.replaceChildren(el('p', { class: 'error' }, L(`预览失败：${err.message}`, `Preview failed: ${err.message}`)));
    }
  }
}
