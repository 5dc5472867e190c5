"""Reading registers as offices really write them: .xlsx with title rows and merged cells,
or .csv in UTF-8 or GB18030 (what Excel on a Chinese Windows saves)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from rectify.errors import RectifyError


@dataclass
class Sheet:
    source: str  # "清单.xlsx" or "清单.xlsx[人员]" for messages
    rows: list[tuple[int, list]]  # (1-based row number, cell values)


def read_sheets(path: Path) -> list[Sheet]:
    if not path.exists():
        raise RectifyError(f"文件不存在：{path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return [Sheet(path.name, _read_csv(path))]
    raise RectifyError(f"不支持的文件类型：{path.name}（请使用 .xlsx 或 .csv）")


def _read_xlsx(path: Path) -> list[Sheet]:
    from openpyxl import load_workbook  # only the import path pays for openpyxl

    try:
        # Not read_only: merged ranges are only available on normal worksheets.
        wb = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise RectifyError(f"无法读取 Excel 文件 {path.name}：{exc}") from None
    sheets = []
    for ws in wb.worksheets:
        grid = [list(r) for r in ws.iter_rows(values_only=True)]
        # A merged range keeps its value in the top-left cell only; copy it to every cell so a
        # problem spanning several measure rows reads the same on each row.
        for rng in ws.merged_cells.ranges:
            value = grid[rng.min_row - 1][rng.min_col - 1] if rng.min_row <= len(grid) else None
            for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
                row = grid[r]
                for c in range(rng.min_col - 1, rng.max_col):
                    if c < len(row):
                        row[c] = value
        name = path.name if len(wb.worksheets) == 1 else f"{path.name}[{ws.title}]"
        sheets.append(Sheet(name, [(i + 1, row) for i, row in enumerate(grid)]))
    return sheets


def _read_csv(path: Path) -> list[tuple[int, list]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RectifyError(f"无法识别 {path.name} 的文字编码（请另存为 UTF-8 或 GBK 编码的 CSV）")
    # newline="" keeps line breaks inside quoted cells (Alt+Enter in Excel) intact.
    rows = csv.reader(io.StringIO(text, newline=""))
    return [(i + 1, list(r)) for i, r in enumerate(rows)]
