"""Signing in and out, and changing one's own password."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user

from engine.errors import EngineError, FormInvalid
from engine.org import auth as engine_auth

from .. import auth, db
from . import bp
from .common import actor, render, safe_next, t
from .formdata import errors_by_field
from .lists import home_url


@bp.route("/login", methods=["GET", "POST"])
def login():
    # No page asked for: each person's home (the board for leaders and inspectors, else the to-do list).
    target = safe_next(request.values.get("next"), "")
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(target or home_url(current_user.actor))
        return render("auth/login.html", username="", error=None, next=target)
    username = request.form.get("username", "").strip()
    try:
        auth.login_with_password(username, request.form.get("password", ""))
    except EngineError as exc:
        return render("auth/login.html", exc.status, username=username, next=target,
                      error=t(exc.message, exc.message_en or exc.message))
    return redirect(target or home_url(current_user.actor))


@bp.post("/logout")
def logout():
    auth.logout()
    flash(t("您已退出登录", "You have signed out"), "ok")
    return redirect(url_for("pages.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    me = actor()
    if request.method == "GET":
        return render("auth/password.html", errors={})
    if request.form.get("new_password") != request.form.get("confirm_password"):
        return render("auth/password.html", 422, errors={"confirm_password": [t("两次输入的新密码不一致", "The passwords differ")]})
    s = db.session()
    try:
        engine_auth.change_password(s, user_id=me.id, old=request.form.get("old_password", ""),
                                    new=request.form.get("new_password", ""))
    except FormInvalid as exc:
        return render("auth/password.html", 422, errors=errors_by_field(exc))
    db.commit()
    auth.refresh_login(me.id)
    flash(t("密码已修改", "Your password was changed"), "ok")
    return redirect(url_for("pages.todo"))
