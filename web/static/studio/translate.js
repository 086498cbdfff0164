// Chinese words for the stock parts of the modeler (palette, context pad, general group of the panel).
const ZH = {
  'General': '常规', 'Name': '名称', 'ID': '编号', 'Documentation': '说明', 'Element documentation': '元素说明',
  'Process documentation': '流程说明', 'Executable': '可执行', 'Process': '流程', 'Process name': '流程名称',
  'Process ID': '流程编号', 'Version tag': '版本标签', 'Extension properties': '扩展属性', 'Inputs': '输入', 'Outputs': '输出',
  'Activate hand tool': '拖动画布', 'Activate lasso tool': '框选', 'Activate create/remove space tool': '插入/删除空白',
  'Activate global connect tool': '连线', 'Create start event': '开始事件', 'Create end event': '结束事件',
  'Create task': '任务', 'Create gateway': '网关', 'Create intermediate/boundary event': '中间/边界事件',
  'Create data object reference': '数据对象', 'Create data store reference': '数据存储', 'Create group': '分组',
  'Create pool/participant': '池', 'Create expanded subprocess': '子流程', 'Append end event': '追加结束事件',
  'Append gateway': '追加网关', 'Append task': '追加任务', 'Append intermediate/boundary event': '追加中间事件',
  'Append text annotation': '追加注释', 'Change element': '更改类型', 'Delete': '删除', 'Connect using sequence/message flow or association': '连线',
  'Connect to other element': '连线', 'Add lane above': '在上方加泳道', 'Add lane below': '在下方加泳道',
  'Divide into two lanes': '分成两条泳道', 'Divide into three lanes': '分成三条泳道', 'User task': '人工任务',
  'Script task': '脚本任务', 'Business rule task': '决策任务', 'Service task': '服务任务', 'Task': '任务',
  'Exclusive gateway': '排他网关', 'Parallel gateway': '并行网关', 'Inclusive gateway': '包容网关',
  'Event-based gateway': '事件网关', 'Start event': '开始事件', 'End event': '结束事件', 'Receive task': '接收任务',
  'Send task': '发送任务', 'Manual task': '手工任务', 'Call activity': '调用活动', 'Sub-process (collapsed)': '子流程（折叠）',
  'Sub-process (expanded)': '子流程（展开）', 'Timer boundary event': '定时边界事件', 'Message boundary event': '消息边界事件',
  'Timer intermediate catch event': '定时中间事件', 'Message intermediate catch event': '消息中间事件',
  'Sequence flow': '顺序流', 'Default flow': '默认流', 'Conditional flow': '条件流', 'Search in diagram': '在图中查找',
  'Open minimap': '打开缩略图', 'Close minimap': '关闭缩略图', 'Multi-instance': '多实例',
  'Parallel multi-instance': '并行多实例', 'User Task': '人工任务', 'Script Task': '脚本任务', 'Business Rule Task': '决策任务',
  'Service Task': '服务任务', 'Receive Task': '接收任务', 'Send Task': '发送任务', 'Manual Task': '手工任务',
  'Start Event': '开始事件', 'End Event': '结束事件', 'Sequence Flow': '顺序流', 'Exclusive Gateway': '排他网关',
  'Parallel Gateway': '并行网关', 'Inclusive Gateway': '包容网关', 'Event-based Gateway': '事件网关', 'Lane': '泳道',
  'Participant': '池', 'Collaboration': '协作', 'Boundary Event': '边界事件', 'Timer Boundary Event': '定时边界事件',
  'Message Boundary Event': '消息边界事件', 'Timer Intermediate Catch Event': '定时中间事件',
  'Message Intermediate Catch Event': '消息中间事件', 'Intermediate Catch Event': '中间事件', 'Sub Process': '子流程',
  'Call Activity': '调用活动', 'View DRD': '查看决策关系图', 'Hit policy:': '命中策略：', 'Hit Policy': '命中策略',
  'When': '当', 'And': '且', 'Then': '则', 'Annotations': '备注', 'Add rule': '添加规则', 'Text Annotation': '注释', 'Data Object Reference': '数据对象', 'Group': '分组', 'Sequential multi-instance': '顺序多实例', 'Loop': '循环'
};

export default function translate(template, replacements) {
  replacements = replacements || {};
  const text = document.documentElement.lang === 'en' ? template : (ZH[template] || template);
  return text.replace(/{([^}]+)}/g, (_, key) => (key in replacements ? replacements[key] : `{${key}}`));
}

export const TranslateModule = { translate: ['value', translate] };
