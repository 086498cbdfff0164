"""The demo county: an org tree and one user per role, for `pingan init` and the tests."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.models import Org
from .orgs import create_org, create_user

DEMO_PASSWORD = "pingan-demo-2026"

ORGS = [
    # code, name, kind, parent
    ("county", "平安县", "county", None),
    ("chengguan", "城关镇", "township", "county"),
    ("dongjie", "东街社区", "village", "chengguan"),
    ("dongjie-1", "东街社区第一网格", "grid", "dongjie"),
    ("hexi", "河西乡", "township", "county"),
    ("liushu", "柳树村", "village", "hexi"),
    ("liushu-1", "柳树村网格", "grid", "liushu"),
    ("xinzhuang", "新庄镇", "township", "county"),
    ("xinzhuang-c", "新庄村", "village", "xinzhuang"),
    ("xinzhuang-c-1", "新庄村网格", "grid", "xinzhuang-c"),
    ("police", "县公安局", "unit", "county"),
    ("justice", "县司法局", "unit", "county"),
    ("housing", "县住建局", "unit", "county"),
    ("market", "县市场监管局", "unit", "county"),
    ("petition", "县信访局", "unit", "county"),
    ("hrss", "县人社局", "unit", "county"),
]

USERS = [
    # username, name, home org, [(role, org)]
    ("admin", "系统管理员", "county", [("admin", "county")]),
    ("designer", "流程设计员", "county", [("designer", "county")]),
    ("zhang.dd", "张调度", "county", [("dispatcher", "county")]),
    ("li.sl", "李受理", "chengguan", [("dispatcher", "chengguan")]),
    ("qian.sl", "钱受理", "hexi", [("dispatcher", "hexi")]),
    ("wang.wg", "王网格", "dongjie-1", [("grid_worker", "dongjie-1")]),
    ("zhao.wg", "赵网格", "liushu-1", [("grid_worker", "liushu-1")]),
    ("chen.tj", "陈调解", "chengguan", [("mediator", "chengguan")]),
    ("liu.tj", "刘调解", "hexi", [("mediator", "hexi")]),
    ("sun.tj", "孙调解", "county", [("mediator", "county")]),
    ("zhou.ga", "周承办", "police", [("handler", "police")]),
    ("wu.zj", "吴承办", "housing", [("handler", "housing")]),
    ("ma.sf", "马承办", "justice", [("handler", "justice")]),
    ("tang.jg", "唐承办", "market", [("handler", "market")]),
    ("song.xf", "宋承办", "petition", [("handler", "petition")]),
    ("han.rs", "韩承办", "hrss", [("handler", "hrss")]),
    ("gao.sl", "高受理", "xinzhuang", [("dispatcher", "xinzhuang")]),
    ("yang.wg", "杨网格", "xinzhuang-c-1", [("grid_worker", "xinzhuang-c-1")]),
    ("guo.tj", "郭调解", "xinzhuang", [("mediator", "xinzhuang")]),
    ("cao.ld", "曹镇长", "xinzhuang", [("leader", "xinzhuang")]),
    ("zheng.dc", "郑督查", "county", [("inspector", "county")]),
    ("feng.kh", "冯考核", "county", [("assessor", "county")]),
    ("he.ld", "何县长", "county", [("leader", "county")]),
    ("lin.ld", "林镇长", "chengguan", [("leader", "chengguan")]),
    ("xu.ld", "徐乡长", "hexi", [("leader", "hexi")]),
]


def load_demo_org(session: Session, *, password: str = DEMO_PASSWORD) -> bool:
    """Create the demo county unless it exists; return whether anything was created."""
    if session.scalar(select(Org.id).where(Org.code == "county")) is not None:
        return False
    for code, name, kind, parent in ORGS:
        create_org(session, code=code, name=name, kind=kind, parent_code=parent)
    for username, name, org, roles in USERS:
        create_user(session, username=username, name=name, org_code=org, password=password, roles=roles)
    return True
