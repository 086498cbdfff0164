// A form drawn from a task form's JSON Schema (the same schema the API publishes for the task page),
// for playing a draft: the designer fills each task's form; values come back typed for the API.
import { L, el } from './common.js';

// What people read for an allowed value: the option's label, a user's or an org's name (x-options).
function labelOf(prop, value) {
  const option = (prop['x-options'] || []).find((o) => o.value === value);
  return option ? L(option.label, option.label_en || option.label) : String(value);
}

function input(name, prop, required) {
  const type = prop['x-type'] || prop.type;
  if (prop.enum) {
    const kind = prop.type === 'integer' ? 'integer' : 'string';
    return el('select', { name, 'data-kind': kind }, el('option', { value: '' }, L('请选择', 'Choose')),
              prop.enum.map((v) => el('option', { value: v }, labelOf(prop, v))));
  }
  if (type === 'boolean' || prop.type === 'boolean') {
    return el('select', { name, 'data-kind': 'boolean' }, el('option', { value: '' }, ''),
              el('option', { value: 'true' }, L('是', 'Yes')), el('option', { value: 'false' }, L('否', 'No')));
  }
  if (prop.type === 'integer' || prop.type === 'number') {
    return el('input', { name, type: 'number', step: prop.type === 'integer' ? '1' : 'any', 'data-kind': prop.type,
                         value: prop.default ?? '' });
  }
  if (type === 'file') return el('span', { class: 'muted small' }, L('（试运行中不上传文件）', '(no uploads while playing)'));
  if (type === 'org') return el('input', { name, 'data-kind': 'string', placeholder: L('组织编码，如 chengguan', 'org code') });
  if (type === 'person') return el('input', { name, 'data-kind': 'string', placeholder: L('用户名', 'username') });
  if (type === 'textarea') return el('textarea', { name, rows: 2, 'data-kind': 'string', 'aria-required': required });
  if (type === 'date') return el('input', { name, type: 'date', 'data-kind': 'string' });
  if (type === 'datetime') return el('input', { name, type: 'datetime-local', 'data-kind': 'datetime' });
  return el('input', { name, 'data-kind': 'string', placeholder: prop['x-placeholder'] || '' });
}

function tableInput(name, prop) {
  const columns = Object.entries(prop.items.properties || {}).filter(([, c]) => !c.readOnly);
  const body = el('tbody');
  const addRow = () => body.append(el('tr', {}, columns.map(([c, cp]) => el('td', {}, input(c, cp, false)))));
  for (let i = 0; i < Math.max(prop.minItems || 1, 1); i++) addRow();
  return el('div', { class: 'table-wrap', 'data-table': name },
    el('table', { class: 'mini' }, el('thead', {}, el('tr', {}, columns.map(([, c]) => el('th', {}, c.title || '')))), body),
    el('button', { type: 'button', class: 'btn btn-small', onclick: addRow }, L('加一行', 'Add a row')));
}

export function schemaForm(schema) {
  const required = new Set(schema.required || []);
  const box = el('div', { class: 'stack schema-form' });
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    if (prop.readOnly) continue;
    const isTable = prop.type === 'array' && prop.items && prop.items.type === 'object';
    const isMulti = prop.type === 'array' && prop.items && prop.items.enum;
    let control;
    if (isTable) control = tableInput(name, prop);
    else if (isMulti) {
      control = el('div', { 'data-multi': name }, prop.items.enum.map((v) => el('label', { class: 'choice' },
        el('input', { type: 'checkbox', value: v }), ` ${labelOf(prop, v)}`)));
    } else control = input(name, prop, required.has(name));
    box.append(el('div', { class: 'field', 'data-field': name },
      el('label', { class: 'label' }, prop.title || name, required.has(name) ? el('span', { class: 'req' }, '*') : null),
      control));
  }
  return box;
}

function valueOf(control) {
  const raw = control.value;
  if (raw === '' || raw === undefined) return undefined;
  switch (control.dataset.kind) {
    case 'boolean': return raw === 'true';
    case 'integer': return parseInt(raw, 10);
    case 'number': return Number(raw);
    default: return raw;
  }
}

export function formValues(box) {
  const data = {};
  box.querySelectorAll(':scope > .field').forEach((field) => {
    const name = field.dataset.field;
    const table = field.querySelector('[data-table]'), multi = field.querySelector('[data-multi]');
    if (table) {
      const rows = [...table.querySelectorAll('tbody tr')].map((tr) => {
        const row = {};
        tr.querySelectorAll('[name]').forEach((c) => { const v = valueOf(c); if (v !== undefined) row[c.name] = v; });
        return row;
      }).filter((row) => Object.keys(row).length);
      if (rows.length) data[name] = rows;
    } else if (multi) {
      const chosen = [...multi.querySelectorAll('input:checked')].map((c) => c.value);
      if (chosen.length) data[name] = chosen;
    } else {
      const v = valueOf(field.querySelector('[name]'));
      if (v !== undefined) data[name] = v;
    }
  });
  return data;
}
