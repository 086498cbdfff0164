"""Moving running cases to another version: a dry run per case, then a background job with progress.

Only designers and administrators (engine/studio/access.py); everyone else gets 403. The job runs
where the deployment runs its background work: a thread of the web process in the embedded mode,
a Celery task (``pingan.run_migration_job``) when timers run under Celery, in the request itself
under tests. All three call ``engine.studio.migration.run_migration_job``.
"""
from __future__ import annotations


from flask import current_app, jsonify

from engine.studio.migration import (
    dry_run, get_job, list_jobs, resume_job, run_in_thread, run_migration_job, start_migration,
)

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas_migrations import (
    MigrationDryRunSchema, MigrationJobCreatedSchema, MigrationJobSchema, MigrationJobSummarySchema, MigrationListArgs,
    MigrationRequest,
)


# Checking a case takes some 10–40 ms: a dry run answers within seconds, the job checks every case again anyway.
DRY_RUN_LIMIT = 500

blp = ApiBlueprint("migrations", __name__, url_prefix="/migrations",
                   description="案件迁移 (move running cases to another process version)")


@blp.route("", methods=["GET"])
@blp.arguments(MigrationListArgs, location="query")
@blp.response(200, MigrationJobSummarySchema(many=True))
@errors(403)
def jobs(args):
    """最近的迁移任务（新的在前），可按流程筛选；不含逐案结果（见 GET /api/v1/migrations/{job}）。"""
    views = list_jobs(db.session(), actor=actor(), process_key=args.get("process"), limit=args["limit"])
    return [_job(v) for v in views]


@blp.route("", methods=["POST"])
@blp.arguments(MigrationRequest)
@blp.response(200, MigrationDryRunSchema, description="预检结果（dry_run 为 true）")
@blp.alt_response(202, schema=MigrationJobCreatedSchema, description="迁移已在后台开始（dry_run 为 false）", success=True)
@errors(403)
def migrate(body):
    """迁移运行中的案件到另一版本：先预检（逐案说明能否迁移及原因），再以后台任务迁移。

    选择案件：该流程全部办理中案件，或 `from_version` 某版本的、`step` 停在某步骤的、`instances` 指定的。
    预检最多检查前 500 个案件（`total` 为选中的案件总数）；正式迁移处理全部选中的案件。
    每个案件单独迁移（在其实例锁下，记入审计：原版本和目标版本）；不能迁移的案件保持原样并在结果中说明原因。
    """
    who = actor()
    choice = dict(process_key=body["process"], to_version=body["to_version"], from_version=body.get("from_version"),
                  instance_ids=body.get("instances"), step=body.get("step"))
    if body["dry_run"]:
        # Reading only: on SQLite a dry run of hundreds of cases must not hold the write lock for seconds.
        with db.services().session(read_only=True) as s:
            checked = dry_run(s, actor=who, limit=DRY_RUN_LIMIT, **choice)
            return {"cases": [c.as_dict() for c in checked], "total": checked.total}
    job = start_migration(db.session(), actor=who, **choice)
    db.commit()
    dispatch(job.id)
    response = jsonify({"job": job.id})
    response.status_code = 202
    return response


@blp.route("/<int(max=2147483647):job_id>", methods=["GET"])
@blp.response(200, MigrationJobSchema)
@errors(403)
def job_progress(job_id: int):
    """迁移任务的进度：状态、已处理/总数、已迁移数和已处理案件的逐案结果。"""
    return _job(get_job(db.session(), job_id=job_id, actor=actor()))


@blp.route("/<int(max=2147483647):job_id>/resume", methods=["POST"])
@blp.response(202, MigrationJobSchema)
@errors(403, 409)
def resume(job_id: int):
    """继续一个中断的迁移任务（执行它的进程出错或已停止，`stalled` 为 true）：从中断处接着迁移，已迁移的案件不重复。"""
    view = resume_job(db.session(), job_id=job_id, actor=actor())
    db.commit()
    dispatch(job_id)
    db.session().expire_all()
    return _job(get_job(db.session(), job_id=job_id, actor=actor()))


def _job(view) -> dict:
    job = view.job
    return {"id": job.id, "process": job.process_key, "from_version": job.from_version, "to_version": job.to_version,
            "status": job.status, "stalled": view.stalled, "done": job.done, "total": job.total, "moved": job.moved,
            "created_by": job.created_by, "created_at": job.created_at, "finished_at": job.finished_at,
            "error": job.error, "cases": [c.as_dict() for c in view.cases]}


def dispatch(job_id: int) -> None:
    """Hand a committed job to whatever runs background work in this deployment."""
    services = db.services()
    app = current_app._get_current_object()
    mode = app.config.get("PINGAN_JOBS") or (
        "inline" if app.testing else "celery" if services.settings.timer_mode == "celery" else "thread")
    if mode == "inline":
        run_migration_job(services.session_factory, job_id)
    elif mode == "celery":
        _celery(app).send_task("pingan.run_migration_job", args=[job_id])
    else:
        run_in_thread(services.session_factory, job_id)


def _celery(app):
    celery = app.extensions.get("pingan_celery")
    if celery is None:
        from worker.app import create_celery

        celery = app.extensions["pingan_celery"] = create_celery(db.services().settings)
    return celery
