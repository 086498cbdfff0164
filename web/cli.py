"""The `pingan` command: set up, validate, deploy, run and inspect."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.errors import EngineError


def _services():
    from engine.context import open_services
    from engine.settings import load_settings
    from engine.store.audit import check_audit_key

    settings = load_settings()
    try:
        check_audit_key(settings)
    except EngineError as exc:
        _fail(exc)
    return open_services(settings)


def _fail(exc: EngineError) -> None:
    click.secho(str(exc), fg="red", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """平安 Pingan：综治中心流程平台 (workflow platform for county governance centers)."""


@main.command()
@click.option("--demo/--no-demo", default=True, help="载入示范县的组织和用户 (load the demo county).")
def init(demo: bool) -> None:
    """创建/升级数据库，载入示范组织，部署 processes/ 下全部流程。"""
    from engine.definitions.deployment import deploy
    from engine.org.demo import DEMO_PASSWORD, load_demo_org
    from engine.store.schema import upgrade

    svc = _services()
    upgrade(svc.engine)
    click.echo(f"数据库已就绪 (schema up to date): {svc.settings.database_url}")
    try:
        with svc.session() as s:
            if demo and load_demo_org(s):
                click.echo(f"已载入示范县组织和用户，初始密码 {DEMO_PASSWORD} (demo org and users loaded)")
            results = deploy(s, paths=[svc.settings.processes_dir.parent], actor="init")
    except EngineError as exc:
        _fail(exc)
    for r in results:
        click.echo(f"  {r.key} v{r.version} {'已部署 (deployed)' if r.created else '未变化 (unchanged)'}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """校验 BPMN/DMN/表单文件或按仓库结构组织的目录，不部署。"""
    from engine.definitions.deployment import collect_sources
    from engine.definitions.deployment import validate as run_validation

    try:
        valid = run_validation(collect_sources(list(paths)))
    except EngineError as exc:
        _fail(exc)
    for v in valid:
        click.echo(f"✓ {v.parsed.key}（{v.parsed.name}）：{len(v.parsed.user_tasks)} 个用户任务，"
                   f"{len(v.forms)} 个表单 — 校验通过 (valid)")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--actor", default=None, help="记录的部署人 (who deploys).")
@click.option("--note", default=None, help="变更说明：为什么部署 (change note: why).")
@click.option("--rollback", is_flag=True,
              help="内容与某一较早版本相同时，作为新的最新版本重新部署（回退）(redeploy an earlier version's content as the newest).")
def deploy(paths: tuple[Path, ...], actor: str | None, note: str | None, rollback: bool) -> None:
    """部署流程：内容与已有版本相同则不产生新版本（加 --rollback 时，较早版本的内容成为新的最新版本）。"""
    from engine.studio.versions import deploy_paths

    svc = _services()
    try:
        with svc.session() as s:
            results = deploy_paths(s, paths=list(paths), actor=actor, note=note, rollback=rollback)
    except EngineError as exc:
        _fail(exc)
    for r in results:
        click.echo(f"{r.key} v{r.version} {'已部署 (deployed)' if r.created else '未变化 (unchanged)'}")


@main.command("test")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--only", multiple=True, help="只运行这个场景（名称或 流程/名称，可重复） (run only this scenario).")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出 (JSON output).")
def test_scenarios(path: Path, only: tuple[str, ...], as_json: bool) -> None:
    """运行工作目录（processes/、forms/、tests/scenarios/）的场景测试：临时数据库、模拟时间，有失败则退出码 1。"""
    from engine.settings import load_settings
    from engine.studio.scenarios import folder_files, run_scenarios
    from engine.studio.workspace import file_kind

    try:
        files = folder_files(path)
    except EngineError as exc:
        click.secho(str(exc), fg="red", err=True)
        sys.exit(2)
    kinds = {file_kind(p) for p in files}
    if "bpmn" not in kinds or "scenario" not in kinds:
        missing = "processes/<流程>.bpmn" if "bpmn" not in kinds else "tests/scenarios/<流程>/<场景>.yaml"
        click.secho(f"{path} 中没有 {missing}：pingan test 需要按仓库结构组织的目录（processes/、forms/、tests/scenarios/）"
                    f" (no {'process' if 'bpmn' not in kinds else 'scenario'} in {path})", fg="red", err=True)
        sys.exit(2)
    try:
        # No request is waiting: a slow machine gets ten minutes before the run stops.
        results = run_scenarios(files, only=list(only) or None, settings=load_settings(), time_budget=600)
    except EngineError as exc:
        click.secho(str(exc), fg="red", err=True)
        sys.exit(2)
    failed = [r for r in results if not r.passed]
    if as_json:
        click.echo(json.dumps({"scenarios": [r.as_dict() for r in results], "passed": len(results) - len(failed),
                               "failed": len(failed)}, ensure_ascii=False, indent=2))
    else:
        for r in results:
            mark = click.style("✓ 通过", fg="green") if r.passed else click.style("✗ 失败", fg="red")
            click.echo(f"{mark} {r.name}  {r.title}  ({r.seconds:.2f} s)")
            if not r.passed:
                click.echo(f"    {r.message}")
        click.echo(f"共 {len(results)} 个场景：{len(results) - len(failed)} 个通过，{len(failed)} 个失败 "
                   f"({len(results)} scenarios: {len(results) - len(failed)} passed, {len(failed)} failed)")
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("key")
@click.option("--version", "version", type=click.IntRange(min=1), default=None, help="版本号，默认最新 (version; latest by default).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="写成 zip 文件 (zip file).")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="写入目录，按仓库结构 (folder laid out like the repository).")
def export(key: str, version: int | None, output: Path | None, folder: Path | None) -> None:
    """导出流程的一个版本（BPMN、DMN、表单、参数、场景），可再用 pingan deploy / pingan test。"""
    from engine.studio.export import export_version, write_folder, zip_files

    if (output is None) == (folder is None):
        raise click.UsageError("请给出 -o 文件.zip 或 --dir 目录之一 (give exactly one of -o and --dir)")
    svc = _services()
    try:
        with svc.session(read_only=True) as s:
            files = export_version(s, key=key, version=version)
        if output is not None:
            output.write_bytes(zip_files(files))
        else:
            write_folder(files, folder)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"已导出 {key} 的 {len(files)} 个文件到 {output or folder} (exported)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--timers/--no-timers", default=True, help="在进程内触发定时器 (fire timers in-process).")
def run(host: str, port: int, timers: bool) -> None:
    """启动 Web 服务（SQLite 默认配置下同时在进程内触发定时器）。"""
    from web.app import create_app

    app = create_app()
    if timers and app.config["PINGAN"].settings.timer_mode == "embedded":
        from engine.runtime.timer_loop import start_timer_loop

        start_timer_loop(app.config["PINGAN"])
    click.echo(f"Pingan 运行于 http://{host}:{port}/")
    app.run(host=host, port=port, use_reloader=False, threaded=True)


@main.command()
@click.argument("key")
@click.option("--to", "to_version", type=click.IntRange(min=1), default=None, help="目标版本（必填，--job 时除外）(target version).")
@click.option("--from", "from_version", type=click.IntRange(min=1), default=None, help="只迁移该版本的案件 (only cases of this version).")
@click.option("--case", "case_ids", multiple=True, type=click.IntRange(min=1), help="只迁移这个案件（案件 id，可重复）(this case only; repeatable).")
@click.option("--step", default=None, help="只迁移当前停在该步骤（BPMN 元素 id）的案件 (only cases at this step).")
@click.option("--dry-run", is_flag=True, help="只检查能否迁移，不做改动 (check only).")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出 (JSON output).")
@click.option("--actor", default="cli", show_default=True, help="审计中记录的操作人 (who the history names).")
@click.option("--job", "resume", type=click.IntRange(min=1), default=None,
              help="继续一个中断的迁移任务（如 Web 进程在迁移中重启）(resume a stopped job).")
def migrate(key: str, to_version: int | None, from_version: int | None, case_ids: tuple[int, ...], step: str | None,
            dry_run: bool, as_json: bool, actor: str, resume: int | None) -> None:
    """把运行中的案件迁移到流程的另一版本：逐案检查，能迁移的迁移（记入审计），不能的保持原样并说明原因；有案件未迁移则退出码 1。"""
    from engine.org.orgs import Actor
    from engine.studio.migration import LEASE, get_job, run_migration_job, start_migration
    from engine.studio.migration import dry_run as check

    # Whoever runs the CLI holds the database itself: an administrator over every org.
    operator = Actor(id=0, username=actor[:64], name="命令行", org_id=0, org_path="/", grants=(("admin", "/"),))
    choice = dict(actor=operator, process_key=key, to_version=to_version, from_version=from_version,
                  instance_ids=list(case_ids) or None, step=step)
    if to_version is None and resume is None:
        raise click.UsageError("请用 --to 给出目标版本 (give the target version with --to)")
    svc = _services()
    try:
        if resume is not None:
            with svc.session(read_only=True) as s:
                job = get_job(s, job_id=resume, actor=operator).job
            if job.process_key != key:
                raise click.UsageError(f"迁移任务 {resume} 属于流程 {job.process_key}，不是 {key}")
            job_id = resume
        if dry_run and resume is None:
            with svc.session(read_only=True) as s:
                cases = check(s, **choice)
            status, moved = None, sum(c.ok for c in cases)
        else:
            if resume is None:
                with svc.session() as s:
                    job_id = start_migration(s, **choice).id

            def progress(done: int, total: int, _outcome) -> None:
                click.echo(f"\r迁移中 (migrating) {done}/{total}", nl=done == total, err=True)
            status = run_migration_job(svc.session_factory, job_id, progress=progress)
            with svc.session(read_only=True) as s:
                view = get_job(s, job_id=job_id, actor=operator)
            cases, moved = view.cases, view.job.moved
    except EngineError as exc:
        _fail(exc)
    if as_json:
        out = {"cases": [c.as_dict() for c in cases]}
        if status is not None:
            out = {"job": job_id, "status": status.value, "done": len(cases), "total": view.job.total,
                   "moved": moved} | out
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for c in cases:
            mark = click.style("✓", fg="green") if c.ok else click.style("✗", fg="red")
            click.echo(f"{mark} {c.business_key or '-'} (#{c.id}, v{c.from_version or '?'}) {c.reason}")
        verb = "可以迁移" if status is None else "已迁移"
        click.echo(f"共 {len(cases)} 个案件：{moved} 个{verb}，{len(cases) - moved} 个不能迁移 "
                   f"({len(cases)} cases: {moved} {'can move' if status is None else 'moved'}, {len(cases) - moved} cannot)")
    if status is not None and status.value == "running":
        click.secho(f"迁移任务 {job_id} 正由另一进程执行，{int(LEASE.total_seconds())} 秒内无进展才可接手 "
                    f"(job {job_id} is being run elsewhere)", fg="red", err=True)
    elif status is not None and status.value != "done":
        click.secho(f"迁移任务 {job_id} 中断 (job stopped): {view.job.error}", fg="red", err=True)
    sys.exit(0 if moved == len(cases) and (status is None or status.value == "done") else 1)


@main.group()
def audit() -> None:
    """审计日志 (audit log)."""


@audit.command("verify")
@click.option("--instance", "instance_id", type=int, default=None)
def audit_verify(instance_id: int | None) -> None:
    """重新计算哈希链，发现被改动或删除的记录。"""
    from engine.store.audit import verify

    svc = _services()
    with svc.session() as s:
        checked, breaks = verify(s, instance_id=instance_id)
    if breaks:
        for b in breaks:
            click.secho(f"案件 {b.instance_id} 第 {b.seq or '-'} 条：{b.reason}", fg="red")
        click.secho(f"审计链校验失败：{len(breaks)} 处异常（共检查 {checked} 条）", fg="red", err=True)
        sys.exit(1)
    click.echo(f"审计链完整：共检查 {checked} 条记录 (audit chain intact: {checked} entries)")


@audit.command("rekey")
def audit_rekey() -> None:
    """升级后运行一次：用审计密钥重签旧的（无密钥哈希的）完整审计链；已断的链保持原样并报告。"""
    from engine.store.audit import rekey

    svc = _services()
    with svc.session() as s:
        report = rekey(s, actor="cli")
    click.echo(f"已重签 {report.resigned} 个案件的 {report.entries} 条记录 "
               f"(re-signed {report.entries} entries of {report.resigned} cases)")
    if report.refused:
        for b in report.refused:
            click.secho(f"案件 {b.instance_id} 第 {b.seq or '-'} 条：{b.reason}", fg="red")
        click.secho(f"{len({b.instance_id for b in report.refused})} 个案件的审计链已断，未重签 "
                    "(broken chains left as they were)", fg="red", err=True)
        sys.exit(1)


@main.group()
def users() -> None:
    """用户 (users)."""


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    """列出用户及其角色和组织。"""
    from engine.org.orgs import list_users

    svc = _services()
    with svc.session() as s:
        rows = [{"username": u.username, "name": u.name, "active": u.active,
                 "roles": [{"role": g.role, "org": g.org.code} for g in u.roles]}
                for u in list_users(s)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['username']:<12} {r['name']:<8} " + ", ".join(f"{g['role']}@{g['org']}" for g in r["roles"]))


@users.command("token")
@click.argument("username")
@click.option("--label", default="cli", show_default=True, help="令牌用途说明 (what the token is for).")
def users_token(username: str, label: str) -> None:
    """为用户签发新的 API 访问令牌并打印（只显示这一次）。"""
    from engine.org.auth import issue_token

    svc = _services()
    try:
        with svc.session() as s:
            token = issue_token(s, username=username, label=label, created_by="cli")
    except EngineError as exc:
        _fail(exc)
    click.echo(token)


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """解除用户在所有来源地址上的登录锁定（记入安全日志，操作人记为 cli）。"""
    from engine.org.lockout import unlock_user
    from engine.org.orgs import Actor

    # Whoever runs the CLI holds the database itself: an administrator over every org.
    operator = Actor(id=0, username="cli", name="命令行", org_id=0, org_path="/", grants=(("admin", "/"),))
    svc = _services()
    try:
        with svc.session() as s:
            cleared = unlock_user(s, actor=operator, username=username)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"已解除 {username} 的 {cleared} 处登录锁定 (cleared {cleared} locks)")


@main.group()
def calendar() -> None:
    """工作日历 (working-day calendar)."""


@calendar.command("import")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def calendar_import(file: Path) -> None:
    """导入一年的放假和调休安排（替换该年已有数据）。"""
    from engine.org.calendar import import_year, parse_calendar_file

    svc = _services()
    try:
        year, holidays, workdays = parse_calendar_file(file)
        with svc.session() as s:
            count = import_year(s, year=year, holidays=holidays, workdays=workdays)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"{year} 年工作日历已导入：{count} 天 ({len(holidays)} 个放假日, {len(workdays)} 个调休上班日)")


@calendar.command("export")
@click.argument("year", type=int)
def calendar_export(year: int) -> None:
    """导出一年的安排为 YAML，可编辑后再导入。"""
    import yaml

    from engine.org.calendar import export_year

    svc = _services()
    with svc.session() as s:
        data = export_year(s, year=year)
    click.echo(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))



@main.group()
def demo() -> None:
    """示范数据 (demo data)."""


@demo.command("seed")
@click.option("--cases", default=60, show_default=True, type=click.IntRange(min=1), help="案件数 (number of cases).")
@click.option("--months", default=3, show_default=True, type=click.IntRange(min=1, max=24),
              help="历史跨度（月）(months of history up to now).")
@click.option("--seed", "seed", default=2026, show_default=True, type=int, help="随机种子：相同种子生成相同历史。")
def demo_seed(cases: int, months: int, seed: int) -> None:
    """由流程引擎自身生成示范县的办案历史（已有案件时不做任何事）。"""
    from engine.seed import MIN_CASES, seed_history

    svc = _services()
    try:
        with svc.session() as s:
            report = seed_history(s, cases=cases, months=months, seed=seed)
    except EngineError as exc:
        _fail(exc)
    if report.skipped:
        click.echo("已有案件，未生成示范数据 (cases exist; nothing seeded)")
        return
    if cases < MIN_CASES:
        click.echo(f"示范数据至少需要 {MIN_CASES} 个案件才能覆盖全部情形 (raised to the minimum {MIN_CASES})")
    click.echo(f"已生成 {report.cases} 个示范案件，用时 {report.seconds} 秒 (seeded {report.cases} cases)")
    click.echo("  " + "，".join(f"{k} {v}" for k, v in sorted(report.by_process.items())))
    click.echo("  " + "，".join(f"{k} {v}" for k, v in sorted(report.by_status.items())))


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """启动 Celery worker（等同 celery -A worker.app worker；其余参数原样传给 Celery）。"""
    from worker.app import app

    app.worker_main(argv=["worker", "--loglevel=INFO", *ctx.args])


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat(ctx: click.Context) -> None:
    """启动 Celery beat：到期的定时器一到就分批交给工作进程，另每秒一次兜底扫描（等同 celery -A worker.app beat）。"""
    from worker.app import app

    app.start(argv=["beat", "--loglevel=INFO", *ctx.args])


@main.group()
def timers() -> None:
    """定时器 (timers)."""


@timers.command("sweep")
@click.option("--limit", default=500, show_default=True, type=int, help="每次最多触发的定时器数。")
def timers_sweep(limit: int) -> None:
    """触发所有已到期的定时器一次并报告结果（运维排查用）。"""
    from engine.runtime.timers import sweep

    svc = _services()
    total = {"fired": 0, "not_ok": 0, "deadline_notices": 0}
    while True:
        report = sweep(svc, limit=limit).summary()
        for key in total:
            total[key] += report[key]
        if not report["more"]:
            break
    click.echo(f"已触发 {total['fired']} 个定时器，失败 {total['not_ok']} 个，发出期限提醒 {total['deadline_notices']} 条 "
               f"(fired {total['fired']}, failed {total['not_ok']}, deadline notices {total['deadline_notices']})")


@timers.command("loop")
def timers_loop() -> None:
    """在前台运行内嵌定时器循环（不启动 Web；Ctrl-C 结束）。"""
    from engine.runtime.timer_loop import start_timer_loop

    loop = start_timer_loop(_services())
    click.echo("定时器循环已启动 (timer loop running); Ctrl-C 结束")
    try:
        while loop.is_alive():
            loop.join(1.0)
    except KeyboardInterrupt:
        loop.stop()


@main.group()
def warnings() -> None:
    """预警 (early warning): 按已部署的预警规则（processes/warnings/*.dmn）研判。"""


@warnings.command("evaluate")
def warnings_evaluate() -> None:
    """立即按全部预警规则研判一次：新的预警通知领导，已有的更新依据案件。"""
    from engine.board.warnings import evaluate_warnings

    svc = _services()
    try:
        with svc.session() as s:
            report = evaluate_warnings(s)
    except EngineError as exc:
        _fail(exc)
    rules = "、".join(f"{k} v{v}" for k, v in report.rules.items()) or "无 (none)"
    click.echo(f"预警规则：{rules}")
    for key, message in report.failed.items():
        click.secho(f"规则 {key} 未能研判（其余规则照常）：{message}", fg="red", err=True)
    click.echo(f"新预警 {len(report.raised)} 条，更新 {len(report.updated)} 条，通知 {report.notified} 人次；"
               f"研判对象 {report.candidates} 个，用时 {report.seconds:.2f} 秒 "
               f"(raised {len(report.raised)}, updated {len(report.updated)}, notified {report.notified}, "
               f"candidates {report.candidates}, {report.seconds:.2f} s)")
    if report.failed:
        sys.exit(1)



@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="把转换后的文件按仓库结构写到这个目录 (write the converted files there, laid out like the repository).")
@click.option("--default-role", default=None,
              help="泳道外或泳道名不是角色的用户任务由这个角色办理，例如 handler 或 承办人 (role for tasks outside a role lane).")
@click.option("--manual-steps", is_flag=True,
              help="平安不能自动执行的步骤（Java、外部作业、其他脚本语言）改为用户任务，不拒绝 (import them as user tasks).")
def import_models(paths: tuple[Path, ...], out_dir: Path | None, default_role: str | None, manual_steps: bool) -> None:
    """导入 Camunda Modeler、bpmn.io 等工具画的模型：能转换的转换，不能的逐个元素说明原因。"""
    from engine.studio.imports import convert_files, read_model_files

    try:
        result = convert_files(read_model_files(list(paths)), default_role=default_role, manual_steps=manual_steps)
    except EngineError as exc:
        _fail(exc)
    for line in result.changes:
        click.echo(f"  改 (changed) {line}")
    for problem in result.problems:
        click.secho(f"  ✗ {problem}", fg="red", err=True)
    if out_dir is not None:
        clashes = [p for p in sorted(result.files) if (out_dir / p).exists()]
        if clashes:
            click.secho(f"目录中已有这些文件，未写出任何文件 (files exist, nothing written): {', '.join(clashes)}",
                        fg="red", err=True)
            sys.exit(1)
        for path, text in sorted(result.files.items()):
            (out_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / path).write_text(text, encoding="utf-8")
        click.echo(f"已写出 {len(result.files)} 个文件到 {out_dir} (wrote {len(result.files)} files)")
    processes = sorted(p for p in result.files if p.endswith(".bpmn"))
    if result.problems:
        click.secho(f"{len(result.problems)} 个问题，修改后才能部署 ({len(result.problems)} problems to fix before "
                    f"deploying): {', '.join(processes)}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"✓ 可以部署 (ready to deploy): {', '.join(processes)}；{len(result.changes)} 处转换 (changes)")

if __name__ == "__main__":
    main()
