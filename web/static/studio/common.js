// What every studio page shares: the JSON API with the session cookie and CSRF header, Chinese text.
export const L = (zh, en) => (document.documentElement.lang === 'en' ? en || zh : zh);

function csrf() {
  const meta = document.querySelector('meta[name=csrf-token]');
  return meta ? meta.content : '';
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (L(body.message, body.message_en) || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(method, url, body, { raw = false } = {}) {
  const options = { method, credentials: 'same-origin', headers: { 'X-CSRFToken': csrf(), Accept: 'application/json' } };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (raw && response.ok) return response;
  const type = response.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await response.json() : { message: await response.text() };
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.flush = (...args) => { clearTimeout(timer); return fn(...args); };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function pageData() {
  const node = document.getElementById('studio-data');
  return node ? JSON.parse(node.textContent) : {};
}

// bpmn-moddle knows the standard <bpmn:messagePath>; SpiffWorkflow's editor writes <bpmn:formalExpression>
// there and SpiffWorkflow reads either. Read it as the standard tag so the modeler keeps the correlation.
export function standardCorrelation(xml) {
  return xml.replace(/(<bpmn:correlationPropertyRetrievalExpression\b[^>]*>\s*)<bpmn:formalExpression(\b[^>]*)>([\s\S]*?)<\/bpmn:formalExpression>/g,
                     '$1<bpmn:messagePath$2>$3</bpmn:messagePath>');
}
