"""The report as a 公文 (报告, GB/T 9704): the text, once, as a list of blocks that the
Markdown, HTML and Word writers lay out each in their own way, so the three say the same thing.

Order (GB/T 9704 §7.2–7.3): title naming the issuing body; 主送机关 followed by "："; the
opening, ending in "："; 一、整改工作开展情况 (the overall figures, then one sentence per
breakdown: 从问题类别看 …); 二、存在的问题 (一是/二是 … paragraphs: overdue items, measures
past their own deadline, stalled items, and what other features add); 三、下一步打算 ((一)(二) …
one per leader with his or her open items and their planned measures, like the seed's
下一步打算); "特此报告。"; 附件说明; 落款 (the issuing body) and 成文日期. The breakdown tables
and the lists of overdue and stalled items follow as 附件1; the register (Excel) is 附件2.

The 落款 follows the rule for a document without a seal (§7.3.5.2): the issuing body's name
2 characters from the right margin, the date on the next line starting 2 characters to the
right of the name's first character (when the name is shorter, the date keeps its 2-character
margin and the name moves left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rectify.report.contents import ItemLine, Report, Tally
from rectify.report.wording import cn_date, cn_number, comrade

ATTACHMENTS = ("问题整改情况统计表", "问题整改清单")
# How many examples part 二 names in the text before pointing to 附件1.
EXAMPLES = 3

# Column widths in twips (1/1440 inch) on the 156 mm text line of the Word file; HTML uses the
# same proportions. Wide enough that 编号, dates (2026年11月13日), 状态 and the headers keep
# to one line at 五号 (10.5 pt).
BREAKDOWN_WIDTHS = (2644, 1000, 1200, 1000, 1000, 1000, 1000)
LIST_WIDTHS = (560, 1200, 1484, 960, 800, 1840, 2000)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    widths: tuple[int, ...]
    numeric: frozenset[int] = frozenset()  # centred figures
    text: frozenset[int] = frozenset()  # long text, left-aligned
    marked: frozenset[int] = frozenset()  # row numbers (0-based) shown as overdue

    @property
    def percents(self) -> list[str]:
        total = sum(self.widths)
        return [f"{100 * w / total:.1f}%" for w in self.widths]


@dataclass
class Block:
    """kind: title, to, p, h1, h2, note, sign, date, break, label, atitle, subtitle, caption,
    table. `indent` is the 落款's distance from the right margin in characters."""

    kind: str
    text: str = ""
    table: Table | None = None
    indent: int = 0
    lines: list[str] = field(default_factory=list)  # 附件说明: one line per attachment


def _breakdown_sentence(column: str, rows: list[Tally]) -> str:
    if column == "责任领导":
        parts = [f"{comrade(t.name)}牵头的问题{t.phrase}" for t in rows]
    else:
        parts = [f"{t.name}{t.phrase}" for t in rows]
    return "；".join(parts) + "。"


def quoted(text: str) -> str:
    """“…” around text whose own quotation marks become ‘…’, as nested quotes are written."""
    inner = text.rstrip("。；;，, ").replace("“", "‘").replace("”", "’")
    return f"“{inner}”"


def _item_ref(item: ItemLine) -> str:
    return f"{quoted(item.wording)}（{item.code}）"


def _joined(names: list[str]) -> str:
    return "、".join(comrade(n) for n in names)


def _problems(r: Report) -> list[str]:
    """The 一是/二是 … paragraphs of part 二; empty when there is nothing to report."""
    points: list[str] = []
    if r.overdue:
        worst = "；".join(
            f"{_item_ref(i)}整改时限为{cn_date(i.overdue_since or i.deadline)}，{i.overdue_label}"
            for i in r.overdue[:EXAMPLES]
        )
        points.append(
            f"部分问题逾期未完成整改。逾期问题{len(r.overdue)}个，涉及{_joined(r.overdue_leaders)}"
            f"牵头的问题。其中，{worst}{'等' if len(r.overdue) > EXAMPLES else ''}。"
            "逾期问题清单见附件1。"
        )
    if r.stalled:
        leaders = list(dict.fromkeys(i.leader for i in r.stalled))
        points.append(
            f"部分问题推进滞缓。{len(r.stalled)}个问题已{r.stalled_after_days}天以上无整改进展，"
            f"涉及{_joined(leaders)}牵头的问题，清单见附件1。"
        )
    sup = r.supplement
    if sup.reports_missed:
        codes = "、".join(sup.unreported[: EXAMPLES * 3]) + (
            "等" if len(sup.unreported) > EXAMPLES * 3 else ""
        )
        points.append(f"部分问题未按时报送整改进展。未按时报送的问题{sup.reports_missed}个（{codes}）。")
    if sup.rebounded:
        points.append(f"个别问题出现反弹。经“回头看”，{sup.rebounded}个已销号问题出现反弹，已重新列入整改。")
    return [f"{cn_number(k)}是{text}" for k, text in enumerate(points, 1)]


def _overview(r: Report) -> str:
    text = r.summary_sentence
    if not r.summary.total:
        return text
    sup = r.supplement
    measures = f"提出具体整改措施{r.measure_count}条"
    if sup.measures_done is not None:
        measures += f"、已完成{sup.measures_done}条"
    if sup.extended:
        shown = "；".join(
            f"{e['code']}第{e['measure']}条措施由{cn_date(e['original_deadline'])}"
            f"延至{cn_date(e['new_deadline'])}"
            for e in sup.extensions[: EXAMPLES * 3]
        )
        more = "等" if len(sup.extensions) > EXAMPLES * 3 else ""
        measures += f"，经批准延期{sup.extended}项（{shown}{more}）"
    text += (
        f"针对查摆出的问题，制定了问题整改清单，{measures}，明确了{r.leader_count}名责任领导和整改时限，"
        "逐项推进整改。"
    )
    if sup.rechecked:
        text += (
            f"对已销号问题开展“回头看”{sup.rechecked}个，其中整改成果巩固{sup.consolidated or 0}个、"
            f"出现反弹{sup.rebounded or 0}个。"
        )
    return text + "各类问题整改情况统计见附件1。"


def _next_step(k: int, item: ItemLine) -> str:
    status = []
    if item.overdue:
        status.append(f"该问题{item.overdue_label}，列为督办重点，限期完成")
    elif item.status.value == "leader_review":
        status.append("已提交销号申请，待责任领导审核")
    elif item.status.value == "submitted":
        status.append("已提交销号申请，待审核")
    measures = "；".join(f"{m.wording}（{m.due_phrase}）" for m in item.measures) or "明确整改措施"
    tail = "。" + "，".join(status) + "。" if status else "。"
    return (
        f"{cn_number(k)}是针对{quoted(item.wording)}问题（{item.code}，责任人{item.owner}），{measures}{tail}"
    )


def _signature(r: Report) -> list[Block]:
    name, day = r.office.org_name, cn_date(r.dated)
    # widths in characters: digits are half a character in 仿宋
    name_w = len(name)
    day_w = sum(0.5 if ch.isdigit() else 1 for ch in day)
    day_right = max(2, round(name_w - day_w))
    name_right = max(2, round(day_right + day_w + 2 - name_w))
    return [Block("sign", name, indent=name_right), Block("date", day, indent=day_right)]


TITLE_LINE = 20  # characters of 二号 (22 pt) on the 156 mm line


def title_lines(title: str, org: str) -> list[str]:
    """A title longer than a line is broken where the sense allows (GB/T 9704 §7.2.3: 回行时
    要做到词意完整，排列对称): after the issuing body, else before 关于/的报告, else in the middle."""
    if len(title) <= TITLE_LINE:
        return [title]
    for cut in (len(org) if title.startswith(org) else -1, title.find("关于"), title.rfind("的报告")):
        if 0 < cut and len(title) - cut <= TITLE_LINE and cut <= TITLE_LINE:
            return [title[:cut], title[cut:]]
    half = (len(title) + 1) // 2
    return [title[:half], title[half:]] if half <= TITLE_LINE else [title]


def build_document(r: Report) -> list[Block]:
    b: list[Block] = [
        Block("title", r.title, lines=title_lines(r.title, r.office.org_name)),
        Block("to", f"{r.office.report_to}："),
    ]
    b.append(
        Block(
            "p",
            f"按照问题整改工作要求，对照问题整改清单，逐项推进整改落实。现将截至{r.as_of_label}"
            "的问题整改工作进展情况报告如下：",
        )
    )

    b.append(Block("h1", "一、整改工作开展情况"))
    b.append(Block("h2", "（一）总体情况"))
    b.append(Block("p", _overview(r)))
    if r.summary.total:
        for n, bd in enumerate((x for x in r.breakdowns if x.rows), 2):
            b.append(Block("h2", f"（{cn_number(n)}）从{bd.column}看"))
            b.append(Block("p", _breakdown_sentence(bd.column, bd.rows)))

    b.append(Block("h1", "二、存在的问题"))
    problems = _problems(r)
    if not problems:
        b.append(
            Block(
                "p",
                f"对照整改时限，目前没有逾期未完成整改的问题，也没有{r.stalled_after_days}天以上"
                "无整改进展的问题。",
            )
        )
    else:
        lead = (
            "整改工作取得了阶段性成效，但对照整改要求，还存在一些问题"
            if r.summary.closed
            else "对照整改要求，整改工作还存在一些问题"
        )
        b.append(Block("p", lead + "，主要表现在："))
        b.extend(Block("p", text) for text in problems)

    b.append(Block("h1", "三、下一步打算"))
    if not r.next_steps:
        b.append(Block("p", "问题已全部完成整改。下一步，将持续开展“回头看”，巩固整改成果，防止问题反弹。"))
    else:
        b.append(
            Block(
                "p",
                f"下一步，将坚持问题导向，紧盯整改时限，对照问题整改清单逐项抓好落实，"
                f"对逾期问题挂牌督办、优先推进，确保尚未完成整改的{r.open_count}个问题按期整改到位。"
                "具体打算如下：",
            )
        )
        for n, g in enumerate(r.next_steps, 1):
            b.append(Block("h2", f"（{cn_number(n)}）{comrade(g.leader)}牵头的问题（{len(g.items)}个）"))
            b.extend(Block("p", _next_step(k, i)) for k, i in enumerate(g.items, 1))
        b.append(Block("p", "对已完成整改的问题，将适时开展“回头看”，巩固整改成果，防止问题反弹。"))
    b.append(Block("p", "特此报告。"))
    b.append(Block("note", lines=[f"{k}．{name}" for k, name in enumerate(ATTACHMENTS, 1)]))
    b.extend(_signature(r))
    b.extend(_attachment(r))
    return b


def _attachment(r: Report) -> list[Block]:
    b = [
        Block("break"),
        Block("label", "附件1"),
        Block("atitle", ATTACHMENTS[0]),
        Block("subtitle", f"（截至{r.as_of_label}）"),
    ]
    s = r.summary
    total = ["合计", s.total, s.closed, s.rate_label, s.in_progress, s.overdue, s.ongoing]
    for n, bd in enumerate((x for x in r.breakdowns if x.rows), 1):
        rows = [
            [t.name, t.total, t.closed, t.rate_label, t.in_progress, t.overdue, t.ongoing] for t in bd.rows
        ]
        b.append(Block("caption", f"{cn_number(n)}、{bd.title}统计"))
        b.append(
            Block(
                "table",
                table=Table(
                    [bd.column, "问题数", "已完成整改", "整改率", "正在推进", "其中逾期", "长期坚持"],
                    [[str(c) for c in row] for row in [*rows, total]],
                    BREAKDOWN_WIDTHS,
                    frozenset(range(1, 7)),
                ),
            )
        )
    n = sum(1 for x in r.breakdowns if x.rows)
    if r.overdue:
        n += 1
        b.append(Block("caption", f"{cn_number(n)}、逾期未完成整改的问题"))
        b.append(
            Block(
                "table",
                table=Table(
                    ["序号", "编号", "问题描述", "责任领导", "责任人", "整改时限", "逾期时间"],
                    [
                        [
                            str(k),
                            i.code,
                            i.wording,
                            i.leader,
                            i.owner,
                            cn_date(i.overdue_since),
                            i.overdue_label,
                        ]
                        for k, i in enumerate(r.overdue, 1)
                    ],
                    LIST_WIDTHS,
                    frozenset({0, 6}),
                    frozenset({2}),
                    frozenset(range(len(r.overdue))),
                ),
            )
        )
    if r.stalled:
        n += 1
        b.append(Block("caption", f"{cn_number(n)}、推进滞缓的问题（{r.stalled_after_days}天以上无进展）"))
        b.append(
            Block(
                "table",
                table=Table(
                    ["序号", "编号", "问题描述", "责任领导", "责任人", "最近进展日期", "无进展天数"],
                    [
                        [
                            str(k),
                            i.code,
                            i.wording,
                            i.leader,
                            i.owner,
                            cn_date(i.last_activity),
                            str(i.idle_days),
                        ]
                        for k, i in enumerate(r.stalled, 1)
                    ],
                    LIST_WIDTHS,
                    frozenset({0, 6}),
                    frozenset({2}),
                ),
            )
        )
    return b
