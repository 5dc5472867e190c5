"""What a register file says, as values: its people and items (with their measures) and every
problem found in it, each naming the file, row, column and value.

rectify.register_parse fills them from the sheets; rectify.import_checks and rectify.importer
read them. A Problem prints as the one Chinese line the person sees (文件 第N行 列“值”：原因).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from models import Role
from rectify.deadlines import Deadline


@dataclass
class Problem:
    source: str
    row: int | None
    column: str | None
    value: object
    message: str

    def __str__(self) -> str:
        where = self.source + (f" 第{self.row}行" if self.row else "")
        if self.column:
            where += f" {self.column}"
        shown = f"“{_show(self.value)}”" if self.value not in (None, "") else ""
        return f"{where}{shown}：{self.message}"


@dataclass
class PersonRow:
    row: int
    name: str
    title: str
    department: str
    email: str
    role: Role
    origin: str = "人员名单"  # the file (and sheet) it came from, for problem messages


@dataclass
class MeasureRow:
    text: str
    deadline: Deadline
    done: str | None = None  # the cell that says it is finished (完成情况, or the row's 整改进展)


@dataclass
class ItemRow:
    row: int
    code: str
    source: str = ""
    category: str = ""
    description: str = ""
    department: str = ""
    leader: str = ""
    owner: str = ""
    co_owners: list[str] = field(default_factory=list)
    progress: str = ""
    remark: str = ""
    reporting: str | None = None  # 汇报频次 as rectify.periods' kind; None: the setting
    measures: list[MeasureRow] = field(default_factory=list)
    origin: str = "整改清单"  # the file (and sheet) it came from, for problem messages
    cells: dict[str, str] = field(default_factory=dict)  # item-level columns as written

    @property
    def deadline(self) -> date | None:
        dues = [m.deadline.due for m in self.measures if m.deadline.due]
        return max(dues) if dues else None


@dataclass
class ParsedRegister:
    people: list[PersonRow] = field(default_factory=list)
    items: list[ItemRow] = field(default_factory=list)
    skipped_sheets: list[str] = field(default_factory=list)  # hidden sheets, not read


def _show(value: object) -> str:
    text = repr(value)[1:-1] if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:80] + "…"  # an over-long cell is named, not echoed
