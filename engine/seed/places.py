"""Where seeded cases happen: the paths are told in 城关镇, and many are moved to another township.

Moving a path swaps the township's people (dispatcher, grid worker, mediator, leader), its org
codes and its place names; county people and units stay. A path that already names another
township's people stays where it is.
"""
from __future__ import annotations

# Per township: its people by job, its org codes and its place names, in the same order.
TOWNSHIPS = {
    "chengguan": {"users": ["li.sl", "wang.wg", "chen.tj", "lin.ld"],
                  "orgs": ["chengguan", "dongjie", "dongjie-1"], "names": ["城关镇", "东街社区", "东街"]},
    "hexi": {"users": ["qian.sl", "zhao.wg", "liu.tj", "xu.ld"],
             "orgs": ["hexi", "liushu", "liushu-1"], "names": ["河西乡", "柳树村", "柳树村"]},
    "xinzhuang": {"users": ["gao.sl", "yang.wg", "guo.tj", "cao.ld"],
                  "orgs": ["xinzhuang", "xinzhuang-c", "xinzhuang-c-1"], "names": ["新庄镇", "新庄村", "新庄村"]},
}
# Where random grid events and disputes happen: the county seat most, the rural townships less.
SHARES = {"chengguan": 60, "hexi": 25, "xinzhuang": 15}
# Places of grid events, per township.
PLACES = {
    "chengguan": ["东街12号楼东侧人行道", "东街菜场门口", "东街与北环路交叉口", "东街小学南门", "人民路公交站",
                  "东街社区文化广场", "北环路加油站旁", "东街3号院", "城关镇卫生院门前", "滨河公园北门"],
    "hexi": ["柳树村村委会门前", "柳树村二组水塘边", "河西乡集市", "柳树村小学路口", "河西大桥西头"],
    "xinzhuang": ["新庄村文化礼堂", "新庄镇农贸市场", "新庄村三组晒场", "新庄中学门口", "新庄村砖厂路"],
}
_OTHERS = {u for t in TOWNSHIPS.values() for u in t["users"]} - set(TOWNSHIPS["chengguan"]["users"])


def movable(path: dict) -> bool:
    """Tell whether a path is told only with 城关镇's and the county's people."""
    people = {path["start"]["as"]} | {s["as"] for s in path["steps"] if "as" in s}
    return not people & _OTHERS


def relocate(value, township: str):
    """Return a path (or any part of one) told in ``township`` instead of 城关镇."""
    if township == "chengguan":
        return value
    here, there = TOWNSHIPS["chengguan"], TOWNSHIPS[township]
    swaps = dict(zip(here["users"], there["users"])) | dict(zip(here["orgs"], there["orgs"]))
    return _swap(value, swaps, list(zip(here["names"], there["names"])))


def _swap(value, swaps: dict, names: list):
    if isinstance(value, dict):
        return {k: _swap(v, swaps, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, swaps, names) for v in value]
    if isinstance(value, str):
        if value in swaps:
            return swaps[value]
        for old, new in names:
            value = value.replace(old, new)
    return value
