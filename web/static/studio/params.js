// Parameters: the `variables:` of processes/<key>.yaml as a form. Only the values change; the comments
// that explain each parameter stay where the designer wrote them.
import { L, el } from './common.js';

const LINE = /^(\s+)([A-Za-z_][A-Za-z0-9_]*):(\s*)([^#\n]*?)(\s*)(#.*)?$/;

export function readVariables(text) {
  const lines = text.split('\n');
  const out = [];
  let inside = false, indent = null;
  lines.forEach((line, index) => {
    if (/^variables:\s*(#.*)?$/.test(line)) { inside = true; return; }
    if (!inside) return;
    if (/^\S/.test(line)) { inside = false; return; }
    const m = LINE.exec(line);
    if (!m || (indent !== null && m[1] !== indent)) return;
    indent = m[1];
    out.push({ index, name: m[2], value: m[4], comment: (m[6] || '').replace(/^#\s*/, '') });
  });
  return out;
}

export function writeVariable(text, index, value) {
  const lines = text.split('\n');
  const m = LINE.exec(lines[index]);
  if (!m) return text;
  lines[index] = `${m[1]}${m[2]}:${m[3] || ' '}${value}${m[6] ? (m[5] || '  ') + m[6] : ''}`;
  return lines.join('\n');
}

export class ParamsTab {
  constructor({ files, setFile, path }) {
    Object.assign(this, { files, setFile, path });
    this.box = document.getElementById('params-form');
    this.raw = document.getElementById('params-raw');
    this.raw.addEventListener('input', () => { this.setFile(this.path, this.raw.value); this.renderFields(); });
  }

  render() {
    this.raw.value = this.files[this.path] || '';
    this.renderFields();
  }

  renderFields() {
    const text = this.files[this.path] || '';
    const vars = readVariables(text);
    if (!vars.length) {
      this.box.replaceChildren(el('p', { class: 'muted' }, L('流程配置中没有 variables（参数）。可在下方原文中添加。',
                                                           'No variables in the process settings; add them in the text below.')));
      return;
    }
    this.box.replaceChildren(...vars.map((v) => el('div', { class: 'field' },
      el('label', { class: 'label', for: `param-${v.name}` }, v.comment || v.name),
      el('div', { class: 'param-row' },
        el('input', { id: `param-${v.name}`, name: v.name, value: v.value, 'data-param': v.name,
                      oninput: (event) => this.change(v.name, event.target.value) }),
        el('code', { class: 'muted small' }, v.name)))));
  }

  change(name, value) {
    const text = this.files[this.path] || '';
    const v = readVariables(text).find((x) => x.name === name);
    if (!v) return;
    const next = writeVariable(text, v.index, value.trim());
    this.setFile(this.path, next);
    this.raw.value = next;
  }
}
