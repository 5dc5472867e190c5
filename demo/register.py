"""The demo register: the seed report's situation written as an office would write the sheet.

The seed (shared/seed/) names these problems: learning methods too narrow and inflexible, study
not tied to real problems, research findings not applied; enterprises' labour, financing-access
and financing-cost problems found on visits; and the leadership team's and members' problems
from the special organisational-life meeting, with a rectification list, measures, responsible
leaders and deadlines. The workbook is deliberately messy like a real one: two title rows,
problem cells merged over their measure rows, deadlines in every customary form, a people sheet.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

PEOPLE = [
    # 姓名, 职务, 部门, 邮箱, 角色
    ("陈静", "办公室主任（督查）", "办公室", "chenjing@xxj.example.gov.cn", "秘书/督查"),
    ("周建国", "党组书记、局长", "局领导", "zhoujianguo@xxj.example.gov.cn", "责任领导"),
    ("吴海燕", "党组成员、副局长", "局领导", "wuhaiyan@xxj.example.gov.cn", "分管领导"),
    ("郑永强", "党组成员、副局长", "局领导", "zhengyongqiang@xxj.example.gov.cn", "分管领导"),
    ("刘洋", "综合科科长", "综合科", "liuyang@xxj.example.gov.cn", "责任人"),
    ("孙丽", "企业服务科科长", "企业服务科", "sunli@xxj.example.gov.cn", "责任人"),
    ("赵磊", "机关党支部专职副书记", "机关党支部", "zhaolei@xxj.example.gov.cn", "责任人"),
    ("钱敏", "人事科科长", "人事科", "qianmin@xxj.example.gov.cn", "责任人"),
    ("冯涛", "机关党支部组织委员", "机关党支部", "fengtao@xxj.example.gov.cn", "责任人"),
]

# 序号, 问题来源, 问题类别, 问题描述, [(整改措施, 整改时限)], 责任领导, 责任部门, 责任人, 整改进展, 备注
ITEMS = [
    (
        "ZG-2026-001",
        "专题组织生活会",
        "班子问题",
        "学习形式还不够丰富，学习方式较为单一，灵活性不强，读书班以集中领学为主，研讨交流不充分。",
        [
            ("制定读书班与现场教学、专题研讨相结合的年度学习方案", "12月底前"),
            ("利用微信群、钉钉群每周推送“党史百年天天读”学习资料", "立行立改"),
        ],
        "周建国",
        "机关党支部",
        "赵磊",
        "学习方案已起草，待党组会审议。",
        "",
    ),
    (
        "ZG-2026-002",
        "对照检查",
        "班子问题",
        "带着问题学、联系实际学不够，学用结合不足，学习成果转化为推动工作的举措不多。",
        [
            ("班子成员每人确定1个调研课题，带着问题开展学习", datetime(2026, 12, 1)),
            ("每季度召开一次学用结合专题研讨会", "长期坚持"),
        ],
        "周建国",
        "办公室",
        "刘洋",
        "",
        "",
    ),
    (
        "ZG-2026-003",
        "调研走访",
        "班子问题",
        "将学习调研成果运用在解决实际问题的力度有待加强，调研发现的问题跟踪解决不够。",
        [
            ("建立调研成果转化清单，逐项明确责任人和完成时限", "2026-12-07"),
            ("每月通报调研成果转化进度", "长期坚持"),
        ],
        "吴海燕",
        "办公室",
        "刘洋",
        "",
        "",
    ),
    (
        "ZG-2026-004",
        "调研走访",
        "服务对象反映问题",
        "企业反映用工难，招工渠道少，技能人才短缺。",
        [
            ("联合人社部门举办专场招聘会2场", "2027年3月31日"),
            ("建立重点企业用工需求台账，按月更新", "15个工作日内"),
        ],
        "郑永强",
        "企业服务科",
        "孙丽",
        "",
        "调研走访发现",
    ),
    (
        "ZG-2026-005",
        "调研走访",
        "服务对象反映问题",
        "企业反映融资难，缺少银企对接渠道，首贷获得率低。",
        [
            ("召开银企对接会，推动金融机构与企业面对面洽谈", "2026/11/20"),
            ("梳理企业融资需求清单并推送合作银行", "2026.11.20"),
        ],
        "郑永强",
        "企业服务科",
        "孙丽",
        "已联系3家合作银行。",
        "调研走访发现",
    ),
    (
        "ZG-2026-006",
        "调研走访",
        "服务对象反映问题",
        "企业反映融资贵，担保费率和贷款综合成本偏高。",
        [("协调政策性担保机构降低担保费率", "2027年6月30日")],
        "郑永强",
        "企业服务科",
        "孙丽",
        "",
        "调研走访发现",
    ),
    (
        "ZG-2026-007",
        "上级反馈",
        "服务对象反映问题",
        "涉企政策宣传解读不到位，企业对惠企政策知晓率不高。",
        [("编印惠企政策汇编并送达重点企业", "2026年11月13日")],
        "吴海燕",
        "综合科",
        "刘洋",
        "",
        "",
    ),
    (
        "ZG-2026-008",
        "专题组织生活会",
        "个人问题",
        "理论学习系统性不够，满足于读原文、听报告，深钻细研不够。",
        [("制定个人学习计划，每月撰写1篇学习体会", "年底前")],
        "周建国",
        "局领导",
        "吴海燕",
        "",
        "",
    ),
    (
        "ZG-2026-009",
        "专题组织生活会",
        "个人问题",
        "深入基层调研不够，联系服务企业不够经常。",
        [("每月至少走访企业2家，建立联系企业工作台账", "长期坚持")],
        "周建国",
        "局领导",
        "郑永强",
        "",
        "",
    ),
    (
        "ZG-2026-010",
        "专题组织生活会",
        "个人问题",
        "开展批评与自我批评辣味不足，谈心谈话不够深入。",
        [("与支部党员逐一开展谈心谈话", "20个工作日内")],
        "周建国",
        "机关党支部",
        "赵磊",
        "",
        "",
    ),
    (
        "ZG-2026-011",
        "对照检查",
        "个人问题",
        "为群众办实事主动性不强，对群众反映的问题跟踪办理不及时。",
        [("建立“我为群众办实事”个人清单并按月销号", "2026年11月25日")],
        "吴海燕",
        "机关党支部",
        "冯涛",
        "",
        "",
    ),
    (
        "ZG-2026-012",
        "对照检查",
        "班子问题",
        "党员教育管理制度执行不严，“三会一课”记录不规范。",
        [("修订党员教育管理制度", "2026年12月底前"), ("开展“三会一课”记录专项检查", "5个工作日内")],
        "吴海燕",
        "人事科",
        "钱敏",
        "",
        "",
    ),
]

REGISTER_HEADERS = [
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


def build(path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "问题整改清单"
    ws.append(["xx局党史学习教育专题组织生活会问题整改清单"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(REGISTER_HEADERS))
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(
        ["填报单位：xx局党组（盖章）", None, None, None, None, None, None, None, "填报日期：2026年11月"]
    )
    ws.append(REGISTER_HEADERS)
    for code, source, category, desc, measures, leader, dept, owner, progress, remark in ITEMS:
        first = ws.max_row + 1
        for i, (measure, deadline) in enumerate(measures):
            head = [code, source, category, desc] if i == 0 else [None] * 4
            tail = [leader, dept, owner] if i == 0 else [None] * 3
            extra = [progress, remark] if i == 0 else [None, None]
            ws.append(head + [measure] + tail + [deadline] + extra)
            if isinstance(deadline, datetime):
                ws.cell(ws.max_row, 9).number_format = "yyyy-mm-dd"
        last = ws.max_row
        if last > first:  # one problem's cells merged over its measure rows
            for col in (1, 2, 3, 4, 6, 7, 8, 10, 11):
                ws.merge_cells(start_row=first, start_column=col, end_row=last, end_column=col)
    _people_sheet(wb)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def build_cycled(path: Path, n: int, prefix: str, deadline: str) -> Path:
    """An n-item register in the demo's layout, the demo's problems and people cycled, one
    measure each, all due on `deadline` (the size benches and the several-machines test)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(REGISTER_HEADERS)
    for i in range(n):
        _, source, category, desc, measures, leader, dept, owner, _, _ = ITEMS[i % len(ITEMS)]
        ws.append(
            [
                f"{prefix}-{i + 1:05d}",
                source,
                category,
                desc,
                measures[0][0],
                leader,
                dept,
                owner,
                deadline,
                "",
                "",
            ]
        )
    _people_sheet(wb)
    wb.save(path)
    return path


def _people_sheet(wb) -> None:
    people = wb.create_sheet("人员名单")
    people.append(["姓名", "职务", "部门", "邮箱", "角色"])
    for row in PEOPLE:
        people.append(list(row))


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-run/整改台账.xlsx")))
