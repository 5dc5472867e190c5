"""Registers (清单) for the import tests: a messy workbook with every deadline form, its people
sheet, rows written as .xlsx or .csv, and `run_import` on a ledger. Shared by the importer,
re-import, import-safety, row, measure and guard tests.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook

from models.db import session_factory
from rectify.importer import import_register
from rectify.workdays import get_calendar


DAY = date(2026, 11, 2)  # the register's date (a Monday)


LATER = date(2026, 11, 30)


CAL = get_calendar(None)


HEAD = [
    "序号",
    "问题来源",
    "问题类别",
    "问题描述",
    "整改措施",
    "责任领导",
    "责任部门",
    "责任人",
    "整改时限",
    "整改进展",
    "备注",
]


PEOPLE_HEAD = ["姓名", "职务", "部门", "邮箱", "角色"]


PEOPLE = [
    ["陈静", "办公室主任", "办公室", "chenjing@xxj.example.gov.cn", "秘书/督查"],
    ["周建国", "党组书记、局长", "局领导", "zhoujianguo@xxj.example.gov.cn", "责任领导"],
    ["吴海燕", "副局长", "局领导", "wuhaiyan@xxj.example.gov.cn", "分管领导"],
    ["郑永强", "副局长", "局领导", "zhengyq@xxj.example.gov.cn", "leader"],
    ["刘洋", "综合科科长", "综合科", "liuyang@xxj.example.gov.cn", "责任人"],
    ["孙丽", "企业服务科科长", "企业服务科", "sunli@xxj.example.gov.cn", "owner"],
    ["王芳", "督查员", "办公室", "wangfang@xxj.example.gov.cn", "secretary"],
]


def messy_items() -> list[dict]:
    """Every deadline form of DOMAIN.md, with the due date each means for a register of DAY."""
    return [
        dict(
            code="ZG-2026-001",
            source="专题组织生活会",
            category="班子问题",
            description="学习形式还不够丰富，学习方式较为单一。",
            leader="周建国",
            department="机关党支部",
            owner="刘洋",
            progress="学习方案已起草。",
            remark="",
            measures=[
                ("制定年度学习方案", datetime(2026, 12, 15), date(2026, 12, 15)),
                ("每周推送学习资料", "立行立改", date(2026, 11, 9)),
                ("每季度召开研讨会", "长期坚持", None),
            ],
        ),
        dict(
            code="ZG-2026-002",
            source="对照检查",
            category="班子问题",
            description="学用结合不足。",
            leader="周建国",
            department="办公室",
            owner="刘洋",
            progress="",
            remark="",
            measures=[
                ("班子成员每人确定1个调研课题", "2026-12-31", date(2026, 12, 31)),
                ("建立调研成果转化清单", "2026/12/20", date(2026, 12, 20)),
                ("通报转化进度", "2026.12.10", date(2026, 12, 10)),
            ],
        ),
        dict(
            code="ZG-2026-003",
            source="调研走访",
            category="服务对象反映问题",
            description="企业反映用工难。",
            leader="郑永强",
            department="企业服务科",
            owner="孙丽",
            progress="",
            remark="调研走访发现",
            measures=[
                ("举办专场招聘会", "2027年3月31日", date(2027, 3, 31)),
                ("建立用工需求台账", "10个工作日内", date(2026, 11, 16)),
            ],
        ),
        dict(
            code="ZG-2026-004",
            source="调研走访",
            category="服务对象反映问题",
            description="企业反映融资难、融资贵。",
            leader="郑永强",
            department="企业服务科",
            owner="孙丽、刘洋",
            progress="",
            remark="",
            measures=[
                ("召开银企对接会", "2027年1月底前", date(2027, 1, 31)),
                ("梳理融资需求清单", "12月底前", date(2026, 12, 31)),
            ],
        ),
        dict(
            code="ZG-2026-005",
            source="专题组织生活会",
            category="个人问题",
            description="理论学习系统性不够。",
            leader="吴海燕",
            department="局领导",
            owner="刘洋",
            progress="",
            remark="",
            measures=[("制定个人学习计划", "年底前", date(2026, 12, 31))],
        ),
        dict(
            code="ZG-2026-006",
            source="专题组织生活会",
            category="个人问题",
            description="谈心谈话不够深入。",
            leader="吴海燕",
            department="机关党支部",
            owner="刘洋",
            progress="",
            remark="",
            measures=[
                ("逐一开展谈心谈话", "2026年底前", date(2026, 12, 31)),
                ("撰写谈话记录", "三个工作日内", date(2026, 11, 5)),
            ],
        ),
        dict(
            code="ZG-2026-007",
            source="上级反馈",
            category="服务对象反映问题",
            description="涉企政策宣传不到位。",
            leader="吴海燕",
            department="综合科",
            owner="刘洋",
            progress="",
            remark="",
            measures=[
                ("编印惠企政策汇编", "2026年12月31日", date(2026, 12, 31)),
                ("送达重点企业", "2026年12月底前", date(2026, 12, 31)),
            ],
        ),
        dict(
            code="ZG-2026-008",
            source="专题组织生活会",
            category="个人问题",
            description="联系服务企业不够经常。",
            leader="周建国",
            department="局领导",
            owner="孙丽",
            progress="",
            remark="",
            measures=[("每月走访企业2家", "长期坚持", None)],
        ),
    ]


def write_xlsx(
    path: Path,
    items: list[dict],
    people=PEOPLE,
    *,
    header=HEAD,
    people_header=PEOPLE_HEAD,
    title_rows: int = 2,
    merge: bool = True,
) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "问题整改清单"
    if title_rows >= 1:
        ws.append(["xx局问题整改清单"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    if title_rows >= 2:
        ws.append(["填报单位：xx局党组（盖章）"] + [None] * 7 + ["填报日期：2026年11月"])
    ws.append(header)
    for it in items:
        first = ws.max_row + 1
        for i, (measure, deadline, _) in enumerate(it["measures"]):
            head = [it["code"], it["source"], it["category"], it["description"]] if i == 0 else [None] * 4
            tail = [it["leader"], it["department"], it["owner"]] if i == 0 else [None] * 3
            extra = [it["progress"], it["remark"]] if i == 0 else [None, None]
            ws.append(head + [measure] + tail + [deadline] + extra)
            if isinstance(deadline, datetime):
                ws.cell(ws.max_row, 9).number_format = "yyyy-mm-dd"
        last = ws.max_row
        if merge and last > first:
            for col in (1, 2, 3, 4, 6, 7, 8, 10, 11):
                ws.merge_cells(start_row=first, start_column=col, end_row=last, end_column=col)
    if people is not None:
        ps = wb.create_sheet("人员名单")
        ps.append(people_header)
        for row in people:
            ps.append(list(row))
    wb.save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    return path


def register_rows(items: list[dict]) -> list[list]:
    rows = []
    for it in items:
        for i, (measure, deadline, _) in enumerate(it["measures"]):
            if isinstance(deadline, datetime):
                deadline = deadline.date().isoformat()
            if i == 0:
                rows.append(
                    [
                        it["code"],
                        it["source"],
                        it["category"],
                        it["description"],
                        measure,
                        it["leader"],
                        it["department"],
                        it["owner"],
                        deadline,
                        it["progress"],
                        it["remark"],
                    ]
                )
            else:
                rows.append([None] * 4 + [measure] + [None] * 3 + [deadline, None, None])
    return rows


def run_import(url: str, paths, *, day=DAY, actor=None, dry_run=False):
    """What `rectify import` does: one transaction; rolled back on error or dry run."""
    with session_factory(url)() as s:
        with s.begin():
            result = import_register(s, list(paths), day=day, calendar=CAL, actor=actor, dry_run=dry_run)
            if dry_run:
                s.rollback()
    return result
