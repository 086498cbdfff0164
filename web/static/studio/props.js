// Pingan's settings in the properties panel, stored the way the shipped BPMN files store them:
// spiffworkflow:properties/property (candidateOrg, assignee, dueDate, warnAt, formKey, urge),
// spiffworkflow:calledDecisionId, spiffworkflow:messageVariable, pre/post scripts, bpmn:script,
// conditions on sequence flows, timers, messages with their correlation, multi-instance (会签), lane = role.
import { h } from '@bpmn-io/properties-panel/preact';
import {
  TextFieldEntry, TextAreaEntry, SelectEntry,
  isTextFieldEntryEdited, isTextAreaEntryEdited, isSelectEntryEdited
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';
import { isAny } from 'bpmn-js/lib/features/modeling/util/ModelingUtil';

const L = (zh, en) => (document.documentElement.lang === 'en' ? en : zh);

// ---- reading and writing the extension elements -------------------------------------------------

function extValues(bo) {
  const ext = bo.get('extensionElements');
  return ext ? ext.get('values') : [];
}

function findExt(bo, type) {
  return extValues(bo).find((v) => v.$type === type);
}

export function getProperty(bo, name) {
  const props = findExt(bo, 'spiffworkflow:properties');
  const item = props && (props.get('properties') || []).find((p) => p.name === name);
  return item ? item.value || '' : '';
}

function ensureExtensions(element, bo, modeling, bpmnFactory) {
  let ext = bo.get('extensionElements');
  if (!ext) {
    ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  return ext;
}

function dropEmptyExtensions(element, bo, modeling) {
  const ext = bo.get('extensionElements');
  if (ext && !ext.get('values').length) modeling.updateModdleProperties(element, bo, { extensionElements: undefined });
}

export function setProperty(element, name, value, modeling, bpmnFactory) {
  const bo = getBusinessObject(element);
  let props = findExt(bo, 'spiffworkflow:properties');
  let item = props && props.get('properties').find((p) => p.name === name);
  if (!value) {
    if (!item) return;
    const rest = props.get('properties').filter((p) => p !== item);
    if (rest.length) {
      modeling.updateModdleProperties(element, props, { properties: rest });
    } else {
      const ext = bo.get('extensionElements');
      modeling.updateModdleProperties(element, ext, { values: ext.get('values').filter((v) => v !== props) });
      dropEmptyExtensions(element, bo, modeling);
    }
    return;
  }
  if (item) {
    modeling.updateModdleProperties(element, item, { value });
    return;
  }
  const ext = ensureExtensions(element, bo, modeling, bpmnFactory);
  if (!props) {
    props = bpmnFactory.create('spiffworkflow:properties', { properties: [] });
    props.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: [...ext.get('values'), props] });
  }
  item = bpmnFactory.create('spiffworkflow:property', { name, value });
  item.$parent = props;
  modeling.updateModdleProperties(element, props, { properties: [...props.get('properties'), item] });
}

function getBody(bo, type) {
  const el = findExt(bo, type);
  return el ? el.value || '' : '';
}

function setBody(element, type, value, modeling, bpmnFactory) {
  const bo = getBusinessObject(element);
  const el = findExt(bo, type);
  if (!value) {
    if (!el) return;
    const ext = bo.get('extensionElements');
    modeling.updateModdleProperties(element, ext, { values: ext.get('values').filter((v) => v !== el) });
    dropEmptyExtensions(element, bo, modeling);
    return;
  }
  if (el) {
    modeling.updateModdleProperties(element, el, { value });
    return;
  }
  const ext = ensureExtensions(element, bo, modeling, bpmnFactory);
  const created = bpmnFactory.create(type, { value });
  created.$parent = ext;
  modeling.updateModdleProperties(element, ext, { values: [...ext.get('values'), created] });
}

// ---- entry components ---------------------------------------------------------------------------

function PropertyEntry(props) {
  const { element, id, name, label, description, placeholder } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  return h(TextFieldEntry, {
    element, id, label, description, placeholder, debounce,
    getValue: () => getProperty(getBusinessObject(element), name),
    setValue: (value) => setProperty(element, name, (value || '').trim(), modeling, bpmnFactory)
  });
}

function BodyEntry(props) {
  const { element, id, type, label, description, area } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  return h(area ? TextAreaEntry : TextFieldEntry, {
    element, id, label, description, debounce, monospace: true, rows: 4,
    getValue: () => getBody(getBusinessObject(element), type),
    setValue: (value) => setBody(element, type, value, modeling, bpmnFactory)
  });
}

function ScriptEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), debounce = useService('debounceInput');
  return h(TextAreaEntry, {
    element, id, debounce, monospace: true, rows: 8,
    label: L('脚本（Python 表达式语句）', 'Script (Python statements)'),
    description: L('可用 now()、days(n)、workdays(n) 等；赋值即写入案件数据', 'now(), days(n), workdays(n)…; assignments become case data'),
    getValue: () => getBusinessObject(element).get('script') || '',
    setValue: (value) => modeling.updateProperties(element, { script: value || undefined, scriptFormat: value ? 'python' : undefined })
  });
}

function ConditionEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  return h(TextFieldEntry, {
    element, id, debounce,
    label: L('流转条件', 'Condition'),
    description: L("为真时走这条线，例如 decision == '立案'；网关的默认线不写条件", "Taken when true, e.g. decision == 'accept'; a gateway's default flow has none"),
    getValue: () => { const c = getBusinessObject(element).get('conditionExpression'); return c ? c.get('body') || '' : ''; },
    setValue: (value) => {
      const expr = value ? bpmnFactory.create('bpmn:FormalExpression', { body: value }) : undefined;
      modeling.updateProperties(element, { conditionExpression: expr });
    }
  });
}

const TIMER_KINDS = ['timeDate', 'timeDuration', 'timeCycle'];

function timerDefinition(element) {
  return (getBusinessObject(element).get('eventDefinitions') || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

function timerKind(def) {
  return TIMER_KINDS.find((k) => def.get(k)) || 'timeDate';
}

function TimerKindEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory');
  const def = timerDefinition(element);
  return h(SelectEntry, {
    element, id, label: L('定时方式', 'Timer type'),
    getOptions: () => [
      { value: 'timeDate', label: L('到某一时刻（如 days(court_wait_days)）', 'At a moment') },
      { value: 'timeDuration', label: L('等待一段时间（如 PT2H）', 'After a duration') },
      { value: 'timeCycle', label: L('周期重复（如 R3/PT1H）', 'Repeating') }
    ],
    getValue: () => timerKind(def),
    setValue: (kind) => {
      const old = timerKind(def), expr = def.get(old);
      const body = expr ? expr.get('body') : '';
      const changes = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      changes[kind] = bpmnFactory.create('bpmn:FormalExpression', { body });
      modeling.updateModdleProperties(element, def, changes);
    }
  });
}

function TimerValueEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  const def = timerDefinition(element);
  return h(TextFieldEntry, {
    element, id, debounce, label: L('定时表达式', 'Timer expression'),
    description: L('可引用流程参数，如 days(follow_up_days)、workdays(accept_workdays)', 'May use parameters, e.g. days(follow_up_days)'),
    getValue: () => { const e = def.get(timerKind(def)); return e ? e.get('body') || '' : ''; },
    setValue: (value) => {
      const changes = {};
      changes[timerKind(def)] = bpmnFactory.create('bpmn:FormalExpression', { body: value || '' });
      modeling.updateModdleProperties(element, def, changes);
    }
  });
}

function messageHolder(element) {
  const bo = getBusinessObject(element);
  if (is(bo, 'bpmn:ReceiveTask') || is(bo, 'bpmn:SendTask')) return bo;
  return (bo.get('eventDefinitions') || []).find((d) => is(d, 'bpmn:MessageEventDefinition'));
}

function definitionsOf(element) {
  let bo = getBusinessObject(element);
  while (bo && !is(bo, 'bpmn:Definitions')) bo = bo.$parent;
  return bo;
}

function MessageNameEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  const holder = messageHolder(element);
  return h(TextFieldEntry, {
    element, id, debounce, label: L('消息名称', 'Message name'),
    description: L('外部系统投递消息时用的名称（如 judicial_confirmation），须在流程配置 messages 中声明', 'The name outside systems post to; declare it under messages in the process settings'),
    getValue: () => { const m = holder.get('messageRef'); return m ? m.get('name') || '' : ''; },
    setValue: (value) => {
      const defs = definitionsOf(element);
      const roots = defs.get('rootElements');
      let message = roots.find((r) => is(r, 'bpmn:Message') && r.get('name') === value);
      if (!value) { modeling.updateModdleProperties(element, holder, { messageRef: undefined }); return; }
      if (!message) {
        message = bpmnFactory.create('bpmn:Message', { name: value });
        message.$parent = defs;
        modeling.updateModdleProperties(element, defs, { rootElements: [...roots, message] });
      }
      modeling.updateModdleProperties(element, holder, { messageRef: message });
    }
  });
}

function correlationOf(element) {
  const holder = messageHolder(element);
  const message = holder && holder.get('messageRef');
  if (!message) return {};
  const defs = definitionsOf(element);
  for (const root of defs.get('rootElements')) {
    if (!is(root, 'bpmn:CorrelationProperty')) continue;
    const expr = (root.get('correlationPropertyRetrievalExpression') || []).find((e) => e.get('messageRef') === message);
    if (expr) return { property: root, expr, message, defs };
  }
  return { message, defs };
}

function CorrelationEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  return h(TextFieldEntry, {
    element, id, debounce, label: L('关联键（消息与案件对应）', 'Correlation key'),
    description: L('消息中的哪个值与案件数据中的同名值相等即投递给该案件，如 court_case_no', 'The message value that must equal the case value, e.g. court_case_no'),
    getValue: () => { const c = correlationOf(element); return c.property ? c.property.get('name') || '' : ''; },
    setValue: (value) => {
      const c = correlationOf(element);
      if (!c.message) return;
      const roots = c.defs.get('rootElements');
      if (c.property) {
        const rest = c.property.get('correlationPropertyRetrievalExpression').filter((e) => e !== c.expr);
        if (rest.length) modeling.updateModdleProperties(element, c.property, { correlationPropertyRetrievalExpression: rest });
        else modeling.updateModdleProperties(element, c.defs, { rootElements: roots.filter((r) => r !== c.property) });
      }
      if (!value) return;
      const current = c.defs.get('rootElements');
      let property = current.find((r) => is(r, 'bpmn:CorrelationProperty') && r.get('name') === value);
      const path = bpmnFactory.create('bpmn:FormalExpression', { body: value });
      const expr = bpmnFactory.create('bpmn:CorrelationPropertyRetrievalExpression', { messageRef: c.message, messagePath: path });
      if (!property) {
        property = bpmnFactory.create('bpmn:CorrelationProperty', { id: value.replace(/[^A-Za-z0-9_]/g, '_'), name: value,
                                                                        correlationPropertyRetrievalExpression: [expr] });
        property.$parent = c.defs;
        expr.$parent = property;
        modeling.updateModdleProperties(element, c.defs, { rootElements: [...current, property] });
      } else {
        expr.$parent = property;
        modeling.updateModdleProperties(element, property, {
          correlationPropertyRetrievalExpression: [...property.get('correlationPropertyRetrievalExpression'), expr] });
      }
    }
  });
}

function loopOf(element) {
  const loop = getBusinessObject(element).get('loopCharacteristics');
  return loop && is(loop, 'bpmn:MultiInstanceLoopCharacteristics') ? loop : null;
}

function CountersignEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory');
  return h(SelectEntry, {
    element, id, label: L('多实例（会签）', 'Multi-instance (countersign)'),
    getOptions: () => [
      { value: '', label: L('否：一人办理', 'No: one person') },
      { value: 'parallel', label: L('并行会签：集合中每一项同时办理', 'Parallel: every item at once') },
      { value: 'sequential', label: L('依次会签：逐项办理', 'Sequential: one after another') }
    ],
    getValue: () => { const l = loopOf(element); return l ? (l.get('isSequential') ? 'sequential' : 'parallel') : ''; },
    setValue: (value) => {
      const l = loopOf(element);
      if (!value) { modeling.updateProperties(element, { loopCharacteristics: undefined }); return; }
      if (l) { modeling.updateModdleProperties(element, l, { isSequential: value === 'sequential' }); return; }
      const created = bpmnFactory.create('bpmn:MultiInstanceLoopCharacteristics', { isSequential: value === 'sequential' });
      modeling.updateProperties(element, { loopCharacteristics: created });
    }
  });
}

function LoopRefEntry(props) {
  const { element, id, prop, label, description } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  const isItem = prop === 'inputDataItem' || prop === 'outputDataItem';
  return h(TextFieldEntry, {
    element, id, label, description, debounce,
    getValue: () => {
      const l = loopOf(element), v = l && l.get(prop);
      return v ? (isItem ? v.get('name') || v.get('id') || '' : v.get('id') || '') : '';
    },
    setValue: (value) => {
      const l = loopOf(element);
      if (!l) return;
      let created;
      if (value && isItem) created = bpmnFactory.create('bpmn:DataInput', { id: value, name: value });
      else if (value) created = bpmnFactory.create('bpmn:Property', { id: value, name: value });
      if (created) created.$parent = l;
      const changes = {};
      changes[prop] = created;
      modeling.updateModdleProperties(element, l, changes);
    }
  });
}

function CompletionEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling'), bpmnFactory = useService('bpmnFactory'), debounce = useService('debounceInput');
  return h(TextFieldEntry, {
    element, id, debounce, label: L('提前结束条件', 'Completion condition'),
    description: L('为真时其余会签人不必再办（可空）', 'When true the rest need not act (optional)'),
    getValue: () => { const l = loopOf(element), c = l && l.get('completionCondition'); return c ? c.get('body') || '' : ''; },
    setValue: (value) => {
      const l = loopOf(element);
      if (!l) return;
      modeling.updateModdleProperties(element, l, {
        completionCondition: value ? bpmnFactory.create('bpmn:FormalExpression', { body: value }) : undefined });
    }
  });
}

function LaneRoleEntry(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const roles = (window.PINGAN_STUDIO && window.PINGAN_STUDIO.roles) || {};
  return h(SelectEntry, {
    element, id, label: L('泳道 = 办理角色', 'Lane = role'),
    description: L('泳道里的人工任务由该角色办理；泳道名称即角色名称', 'User tasks in this lane go to this role; the lane is named after it'),
    getOptions: () => [{ value: '', label: L('（不是角色）', '(not a role)') },
                       ...Object.entries(roles).map(([key, label]) => ({ value: label, label: `${label}（${key}）` }))],
    getValue: () => {
      const name = (getBusinessObject(element).get('name') || '').trim();
      const hit = Object.entries(roles).find(([key, label]) => name === label || name === key);
      return hit ? hit[1] : '';
    },
    setValue: (value) => modeling.updateProperties(element, { name: value })
  });
}

// ---- which groups an element gets ---------------------------------------------------------------

function entry(id, component, extra, isEdited) {
  return { id, component, isEdited: isEdited || isTextFieldEntryEdited, ...extra };
}

function pinganGroups(element) {
  const groups = [];
  const bo = getBusinessObject(element);
  if (is(element, 'bpmn:UserTask')) {
    const processKey = (window.PINGAN_STUDIO && window.PINGAN_STUDIO.processKey) || '';
    groups.push({ id: 'pingan-task', label: L('办理设置', 'Task settings'), entries: [
      entry('formKey', PropertyEntry, { name: 'formKey', label: L('表单', 'Form'),
        description: L(`不填即用 forms/${processKey}/<任务编号>.yaml；填“流程/表单名”可共用表单`, `Empty: forms/${processKey}/<task id>.yaml`),
        placeholder: `${processKey}/${bo.get('id')}` }),
      entry('candidateOrg', PropertyEntry, { name: 'candidateOrg', label: L('承办组织（表达式）', 'Candidate org (expression)'),
        description: L('结果为组织编码，如 county_org、level_org；不填则为案件所属组织', 'Gives an org code; empty: the case org') }),
      entry('assignee', PropertyEntry, { name: 'assignee', label: L('指定办理人（表达式）', 'Assignee (expression)'),
        description: L('结果为用户名，如 mediator；不填则由角色成员签收', 'Gives a username; empty: members of the role claim it') }),
      entry('dueDate', PropertyEntry, { name: 'dueDate', label: L('办理时限', 'Due'),
        description: L('如 workdays(accept_workdays)（工作日）或 days(3)', 'e.g. workdays(accept_workdays) or days(3)') }),
      entry('warnAt', PropertyEntry, { name: 'warnAt', label: L('预警时间', 'Warn at'),
        description: L('到此时刻亮黄灯，如 workdays(2)', 'Yellow light from then, e.g. workdays(2)') })
    ] });
  }
  if (isAny(element, ['bpmn:UserTask', 'bpmn:ManualTask', 'bpmn:Task', 'bpmn:ServiceTask', 'bpmn:SendTask', 'bpmn:ReceiveTask'])) {
    groups.push({ id: 'pingan-hooks', label: L('前后脚本', 'Pre/post scripts'), entries: [
      entry('preScript', BodyEntry, { type: 'spiffworkflow:preScript', area: true, label: L('进入前执行', 'Before') }, isTextAreaEntryEdited),
      entry('postScript', BodyEntry, { type: 'spiffworkflow:postScript', area: true, label: L('完成后执行', 'After') }, isTextAreaEntryEdited)
    ] });
  }
  if (is(element, 'bpmn:ScriptTask')) {
    groups.push({ id: 'pingan-script', label: L('脚本', 'Script'), entries: [entry('script', ScriptEntry, {}, isTextAreaEntryEdited)] });
  }
  if (is(element, 'bpmn:BusinessRuleTask')) {
    groups.push({ id: 'pingan-decision', label: L('决策表', 'Decision'), entries: [
      entry('calledDecisionId', BodyEntry, { type: 'spiffworkflow:calledDecisionId', label: L('调用的决策表编号', 'Decision id'),
        description: L('DMN 文件中 decision 的编号，如 mediation_risk；输出列写入案件数据', 'The decision id in a DMN file; outputs become case data') })
    ] });
  }
  if (is(element, 'bpmn:SequenceFlow') && isAny(bo.get('sourceRef'), ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway', 'bpmn:Activity'])) {
    groups.push({ id: 'pingan-condition', label: L('条件', 'Condition'), entries: [entry('condition', ConditionEntry)] });
  }
  if (timerDefinition(element)) {
    const timer = [entry('timerKind', TimerKindEntry, {}, isSelectEntryEdited), entry('timerValue', TimerValueEntry)];
    if (is(element, 'bpmn:BoundaryEvent')) {
      timer.push(entry('urge', PropertyEntry, { name: 'urge', label: L('到时催办（提示语表达式）', 'Urge when due (message)'),
        description: L("填写后到时提醒任务办理人，如 '请尽快办理'", "If set, the holder of the task is reminded") }));
    }
    groups.push({ id: 'pingan-timer', label: L('定时', 'Timer'), entries: timer });
  }
  if (messageHolder(element) && !is(element, 'bpmn:SendTask')) {
    groups.push({ id: 'pingan-message', label: L('消息', 'Message'), entries: [
      entry('messageName', MessageNameEntry),
      entry('messageVariable', BodyEntry, { type: 'spiffworkflow:messageVariable', label: L('消息数据存入变量', 'Store message in'),
        description: L('消息带来的数据存到案件数据的这个名字下，如 court_result', 'Case data name for the message payload') }),
      entry('correlation', CorrelationEntry)
    ] });
  }
  if (isAny(element, ['bpmn:UserTask', 'bpmn:Task', 'bpmn:ManualTask', 'bpmn:SubProcess'])) {
    const loop = [entry('countersign', CountersignEntry, {}, isSelectEntryEdited)];
    if (loopOf(element)) {
      loop.push(
        entry('loopDataInputRef', LoopRefEntry, { prop: 'loopDataInputRef', label: L('会签名单（集合变量）', 'Collection'),
          description: L('如 township_list：每一项生成一个任务', 'e.g. township_list: one task per item') }),
        entry('inputDataItem', LoopRefEntry, { prop: 'inputDataItem', label: L('每项的变量名', 'Item variable'),
          description: L('如 assess_township，可用于承办组织', 'e.g. assess_township, usable as candidate org') }),
        entry('loopDataOutputRef', LoopRefEntry, { prop: 'loopDataOutputRef', label: L('结果集合', 'Results') }),
        entry('outputDataItem', LoopRefEntry, { prop: 'outputDataItem', label: L('每项结果的变量名', 'Result variable') }),
        entry('completionCondition', CompletionEntry));
    }
    groups.push({ id: 'pingan-loop', label: L('会签', 'Countersign'), entries: loop });
  }
  if (is(element, 'bpmn:Lane')) {
    groups.push({ id: 'pingan-lane', label: L('角色', 'Role'), entries: [entry('laneRole', LaneRoleEntry, {}, isSelectEntryEdited)] });
  }
  return groups;
}

// Groups of the stock panel that would edit the same things a second way (in English terms) are dropped.
const REPLACED = new Set(['timer', 'multiInstance', 'message', 'CamundaPlatform__Condition']);

export default function PinganPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(400, this);
}

PinganPropertiesProvider.$inject = ['propertiesPanel'];

PinganPropertiesProvider.prototype.getGroups = function (element) {
  return function (groups) {
    const kept = groups.filter((g) => !REPLACED.has(g.id));
    const general = kept.findIndex((g) => g.id === 'general');
    kept.splice(general + 1, 0, ...pinganGroups(element));
    return kept;
  };
};

export const PinganPropertiesModule = {
  __init__: ['pinganPropertiesProvider'],
  pinganPropertiesProvider: ['type', PinganPropertiesProvider]
};

