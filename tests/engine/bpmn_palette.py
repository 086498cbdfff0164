"""Small processes, one per element of the BPMN palette (issue 15): the body of a process and the
definitions beside it. tests/engine/test_bpmn_palette.py says what each must do: run, or be refused by name."""
U = '<bpmn:userTask id="{id}" name="{id}"><bpmn:incoming>{i}</bpmn:incoming><bpmn:outgoing>{o}</bpmn:outgoing></bpmn:userTask>'
def flow(id, s, t, cond=None):
    c = f'<bpmn:conditionExpression>{cond}</bpmn:conditionExpression>' if cond else ''
    return f'<bpmn:sequenceFlow id="{id}" sourceRef="{s}" targetRef="{t}">{c}</bpmn:sequenceFlow>'
def chain(*nodes, prefix="f"):
    """Nodes (tag, id, inner XML) in a line, each joined to the next by a sequence flow."""
    xml = []
    for n, (tag, id, inner) in enumerate(nodes):
        inc = f'<bpmn:incoming>{prefix}{n}</bpmn:incoming>' if n else ''
        out = f'<bpmn:outgoing>{prefix}{n+1}</bpmn:outgoing>' if n < len(nodes) - 1 else ''
        xml.append(f'<bpmn:{tag} id="{id}" name="{id}">{inc}{out}{inner}</bpmn:{tag}>')
    for n in range(len(nodes) - 1):
        xml.append(flow(f"{prefix}{n+1}", nodes[n][1], nodes[n+1][1]))
    return "".join(xml)

CASES = {}
def case(key, body, defs=""):
    CASES[key] = (body, defs)

case("user_task", chain(("startEvent","s",""),("userTask","u",""),("endEvent","e","")))
case("script_task", chain(("startEvent","s",""),("scriptTask","x","<bpmn:script>a = 1</bpmn:script>"),("userTask","u",""),("endEvent","e","")))
case("manual_task", chain(("startEvent","s",""),("manualTask","m",""),("endEvent","e","")))
case("service_task", chain(("startEvent","s",""),("serviceTask","st",""),("endEvent","e","")))
case("none_task", chain(("startEvent","s",""),("task","t",""),("userTask","u",""),("endEvent","e","")))
case("send_task", chain(("startEvent","s",""),("sendTask","snd",'') ,("endEvent","e","")))
case("receive_task", chain(("startEvent","s",""),("receiveTask","rcv",''),("endEvent","e","")))
case("complex_gateway", chain(("startEvent","s",""),("complexGateway","cg",""),("userTask","u",""),("endEvent","e","")))
case("inclusive_gateway",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:inclusiveGateway id="ig" default="f3"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:inclusiveGateway>'
     '<bpmn:userTask id="a"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:userTask id="b"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:inclusiveGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:inclusiveGateway>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","ig") + flow("f2","ig","a","True") + flow("f3","ig","b") + flow("f4","a","join") + flow("f5","b","join") + flow("f6","join","e"))
case("signal_throw_catch",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:parallelGateway id="p"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>'
     '<bpmn:intermediateCatchEvent id="catch"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing><bpmn:signalEventDefinition signalRef="sig"/></bpmn:intermediateCatchEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:intermediateThrowEvent id="throw"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing><bpmn:signalEventDefinition signalRef="sig"/></bpmn:intermediateThrowEvent>'
     '<bpmn:parallelGateway id="j"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming><bpmn:outgoing>f7</bpmn:outgoing></bpmn:parallelGateway>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","p")+flow("f2","p","catch")+flow("f3","p","u")+flow("f4","catch","j")+flow("f5","u","throw")+flow("f6","throw","j")+flow("f7","j","e"),
     '<bpmn:signal id="sig" name="sig"/>')
case("escalation_boundary",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:subProcess id="sp"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
     '<bpmn:startEvent id="ss"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:intermediateThrowEvent id="esc"><bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing><bpmn:escalationEventDefinition escalationRef="E1"/></bpmn:intermediateThrowEvent>'
     '<bpmn:endEvent id="se"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>'
     + flow("g1","ss","esc") + flow("g2","esc","se") +
     '</bpmn:subProcess>'
     '<bpmn:boundaryEvent id="b_esc" attachedToRef="sp" cancelActivity="false"><bpmn:outgoing>f3</bpmn:outgoing><bpmn:escalationEventDefinition escalationRef="E1"/></bpmn:boundaryEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","sp")+flow("f2","sp","e")+flow("f3","b_esc","u")+flow("f4","u","e2"),
     '<bpmn:escalation id="E1" name="E1" escalationCode="E1"/>')
case("error_boundary",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:subProcess id="sp"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
     '<bpmn:startEvent id="ss"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:endEvent id="err_end"><bpmn:incoming>g1</bpmn:incoming><bpmn:errorEventDefinition errorRef="Err1"/></bpmn:endEvent>'
     + flow("g1","ss","err_end") +
     '</bpmn:subProcess>'
     '<bpmn:boundaryEvent id="b_err" attachedToRef="sp"><bpmn:outgoing>f3</bpmn:outgoing><bpmn:errorEventDefinition errorRef="Err1"/></bpmn:boundaryEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","sp")+flow("f2","sp","e")+flow("f3","b_err","u")+flow("f4","u","e2"),
     '<bpmn:error id="Err1" name="Err1" errorCode="E1"/>')
case("conditional_catch",
     chain(("startEvent","s",""),("scriptTask","x","<bpmn:script>ready = True</bpmn:script>"),
           ("intermediateCatchEvent","cond",'<bpmn:conditionalEventDefinition><bpmn:condition>ready</bpmn:condition></bpmn:conditionalEventDefinition>'),
           ("userTask","u",""),("endEvent","e","")))
case("compensation_boundary",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:boundaryEvent id="comp" attachedToRef="u"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>'
     '<bpmn:intermediateThrowEvent id="throw_comp"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","u")+flow("f2","u","throw_comp")+flow("f3","throw_comp","e"))
case("link_events",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:intermediateThrowEvent id="lt"><bpmn:incoming>f1</bpmn:incoming><bpmn:linkEventDefinition name="L"/></bpmn:intermediateThrowEvent>'
     '<bpmn:intermediateCatchEvent id="lc"><bpmn:outgoing>f2</bpmn:outgoing><bpmn:linkEventDefinition name="L"/></bpmn:intermediateCatchEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","lt")+flow("f2","lc","u")+flow("f3","u","e"))
case("event_subprocess_timer",
     chain(("startEvent","s",""),("userTask","u",""),("endEvent","e","")) +
     '<bpmn:subProcess id="evsp" triggeredByEvent="true">'
     '<bpmn:startEvent id="es" isInterrupting="false"><bpmn:outgoing>h1</bpmn:outgoing><bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>'
     '<bpmn:scriptTask id="note"><bpmn:incoming>h1</bpmn:incoming><bpmn:outgoing>h2</bpmn:outgoing><bpmn:script>noted = True</bpmn:script></bpmn:scriptTask>'
     '<bpmn:endEvent id="ee"><bpmn:incoming>h2</bpmn:incoming></bpmn:endEvent>'
     + flow("h1","es","note") + flow("h2","note","ee") + '</bpmn:subProcess>')
case("transaction",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:transaction id="tx"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
     '<bpmn:startEvent id="ts"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="te"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>' + flow("g1","ts","u") + flow("g2","u","te") +
     '</bpmn:transaction><bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>' + flow("f1","s","tx") + flow("f2","tx","e"))
case("adhoc_subprocess",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:adHocSubProcess id="ah"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
     '<bpmn:userTask id="u1"/><bpmn:userTask id="u2"/></bpmn:adHocSubProcess>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>' + flow("f1","s","ah") + flow("f2","ah","e"))
case("standard_loop",
     chain(("startEvent","s",""),("scriptTask","x","<bpmn:script>rounds = 0</bpmn:script>"),
           ("scriptTask","count",'<bpmn:standardLoopCharacteristics><bpmn:loopCondition>rounds &lt; 3</bpmn:loopCondition></bpmn:standardLoopCharacteristics><bpmn:script>rounds = rounds + 1</bpmn:script>'),
           ("userTask","u",""),("endEvent","e","")))
case("mi_sequential_completion",
     chain(("startEvent","s",""),("scriptTask","x","<bpmn:script>people = ['a', 'b', 'c']</bpmn:script>"),
           ("userTask","u",'<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopDataInputRef>people</bpmn:loopDataInputRef><bpmn:inputDataItem id="person" name="person"/><bpmn:completionCondition>True</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics>'),
           ("endEvent","e","")))
case("data_object_store_annotation",
     chain(("startEvent","s",""),("userTask","u",""),("endEvent","e","")) +
     '<bpmn:dataObject id="DO1"/><bpmn:dataObjectReference id="dor" dataObjectRef="DO1"/>'
     '<bpmn:dataStoreReference id="dsr"/>'
     '<bpmn:textAnnotation id="ta"><bpmn:text>说明</bpmn:text></bpmn:textAnnotation><bpmn:association id="as1" sourceRef="u" targetRef="ta"/>'
     '<bpmn:group id="g1"/>')
case("message_throw_end",
     chain(("startEvent","s",""),("userTask","u",""),("endEvent","e",'<bpmn:messageEventDefinition messageRef="m1"/>')),
     '<bpmn:message id="m1" name="done_msg"/>')
case("escalation_end_top",
     chain(("startEvent","s",""),("userTask","u",""),("endEvent","e",'<bpmn:escalationEventDefinition escalationRef="E1"/>')),
     '<bpmn:escalation id="E1" name="E1" escalationCode="E1"/>')
case("error_end_top",
     chain(("startEvent","s",""),("userTask","u",""),("endEvent","e",'<bpmn:errorEventDefinition errorRef="Err1"/>')),
     '<bpmn:error id="Err1" name="Err1" errorCode="E1"/>')
case("signal_start",
     chain(("startEvent","s",'<bpmn:signalEventDefinition signalRef="sig"/>'),("userTask","u",""),("endEvent","e","")),
     '<bpmn:signal id="sig" name="sig"/>')
case("conditional_start",
     chain(("startEvent","s",'<bpmn:conditionalEventDefinition><bpmn:condition>True</bpmn:condition></bpmn:conditionalEventDefinition>'),("userTask","u",""),("endEvent","e","")))
case("receive_task_msg",
     chain(("startEvent","s",""),("receiveTask","rcv",''),("userTask","u",""),("endEvent","e","")).replace('<bpmn:receiveTask id="rcv" name="rcv">','<bpmn:receiveTask id="rcv" name="rcv" messageRef="m1">'),
     '<bpmn:message id="m1" name="m1"/>')
case("link_only",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:intermediateThrowEvent id="lt"><bpmn:incoming>f1</bpmn:incoming><bpmn:linkEventDefinition name="L"/></bpmn:intermediateThrowEvent>'
     '<bpmn:intermediateCatchEvent id="lc"><bpmn:outgoing>f2</bpmn:outgoing><bpmn:linkEventDefinition name="L"/></bpmn:intermediateCatchEvent>'
     '<bpmn:scriptTask id="x"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing><bpmn:script>linked = True</bpmn:script></bpmn:scriptTask>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","lt")+flow("f2","lc","x")+flow("f3","x","e"))
case("transaction_cancel",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:transaction id="tx"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>'
     '<bpmn:startEvent id="ts"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:endEvent id="cancel_end"><bpmn:incoming>g1</bpmn:incoming><bpmn:cancelEventDefinition/></bpmn:endEvent>' + flow("g1","ts","cancel_end") +
     '</bpmn:transaction>'
     '<bpmn:boundaryEvent id="b_cancel" attachedToRef="tx"><bpmn:outgoing>f3</bpmn:outgoing><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>' + flow("f1","s","tx") + flow("f2","tx","e")
     + flow("f3","b_cancel","u") + flow("f4","u","e2"))
case("message_boundary",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:userTask id="u"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:boundaryEvent id="b_msg" attachedToRef="u"><bpmn:outgoing>f3</bpmn:outgoing><bpmn:messageEventDefinition messageRef="m1"/></bpmn:boundaryEvent>'
     '<bpmn:userTask id="v"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>'
     '<bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","u") + flow("f2","u","e") + flow("f3","b_msg","v") + flow("f4","v","e2"),
     '<bpmn:message id="m1" name="m1"/>')
case("terminate_top",
     '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
     '<bpmn:parallelGateway id="p"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>'
     '<bpmn:userTask id="a"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:userTask id="b"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>'
     '<bpmn:endEvent id="term"><bpmn:incoming>f4</bpmn:incoming><bpmn:terminateEventDefinition/></bpmn:endEvent>'
     '<bpmn:endEvent id="e"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>'
     + flow("f1","s","p") + flow("f2","p","a") + flow("f3","p","b") + flow("f4","a","term") + flow("f5","b","e"))
case("mi_parallel",
     chain(("startEvent","s",""),("scriptTask","x","<bpmn:script>people = ['a', 'b']</bpmn:script>"),
           ("userTask","u",'<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>people</bpmn:loopDataInputRef><bpmn:inputDataItem id="person" name="person"/></bpmn:multiInstanceLoopCharacteristics>'),
           ("endEvent","e","")))
case("call_activity",
     chain(("startEvent","s",""),("callActivity","call",""),("userTask","u",""),("endEvent","e","")).replace(
         '<bpmn:callActivity id="call" name="call">', '<bpmn:callActivity id="call" name="call" calledElement="call_activity_called">'),
     '<bpmn:process id="call_activity_called" name="被调用" isExecutable="true">'
     + chain(("startEvent","cs",""),("scriptTask","cx","<bpmn:script>called = True</bpmn:script>"),("endEvent","ce",""), prefix="cf") + '</bpmn:process>')
case("unreachable_task",
     chain(("startEvent","s",""),("userTask","u",""),("endEvent","e",""))
     + '<bpmn:userTask id="orphan" name="无人连入"><bpmn:outgoing>o1</bpmn:outgoing></bpmn:userTask>'
     + '<bpmn:endEvent id="oe"><bpmn:incoming>o1</bpmn:incoming></bpmn:endEvent>' + flow("o1", "orphan", "oe"))
