"""Reading registers as offices really write them: .xlsx with title rows and merged cells,
or .csv in UTF-8 or GB18030 (what Excel on a Chinese Windows saves).

A workbook is untrusted input: its zip is measured before openpyxl inflates it (a 1 MB file can
hold gigabytes of XML), hidden sheets are not read, and a formula saved without its result is
marked rather than read as an empty cell.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rectify.errors import RectifyError

# A register of tens of thousands of rows is a few dozen MB of sheet XML and well under 600,000
# cells; openpyxl needs roughly 400 bytes of memory per cell, so these bound memory and time.
MAX_UNCOMPRESSED = 100 * 1024 * 1024
MAX_CELLS = 600_000
MAX_COLUMNS = 100  # registers have about a dozen columns; headers are searched in these
# Excel itself cannot hold more than 32,767 characters in a cell; 128 KB leaves room for CSVs
# written by other tools while still catching an unbalanced quote that swallows the file.
CSV_FIELD_LIMIT = 128 * 1024
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>/]")
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


@dataclass
class Sheet:
    source: str  # "清单.xlsx" or "清单.xlsx[人员]" for messages
    rows: list[tuple[int, list]]  # (1-based row number, cell values)
    hidden: bool = False  # hidden/veryHidden: listed so the caller can say it was skipped


@dataclass(frozen=True)
class Uncomputed:
    """A formula cell saved without its cached result (data_only would read it as empty)."""

    formula: str

    def __str__(self) -> str:
        return self.formula


def read_sheets(path: Path) -> list[Sheet]:
    if not path.exists():
        raise RectifyError(f"文件不存在：{path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return [Sheet(path.name, _read_csv(path))]
    raise RectifyError(f"不支持的文件类型：{path.name}（请使用 .xlsx 或 .csv）")


def _measure_zip(path: Path) -> bool:
    """Refuse oversized workbooks before inflating them; True when any sheet holds a formula."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_UNCOMPRESSED:
                raise RectifyError(
                    f"Excel 文件 {path.name} 解压后达 {total // 2**20} MB，超过上限 "
                    f"{MAX_UNCOMPRESSED // 2**20} MB（可能含大量无关内容）：请删去多余内容或另存为 CSV 后再导入")
            cells, formulas = 0, False
            for m in members:
                if not m.filename.startswith("xl/worksheets/") or not m.filename.endswith(".xml"):
                    continue
                # The declared sizes above can lie; count while inflating, and stop at the limit.
                read, carry = 0, b""
                with zf.open(m) as f:
                    while chunk := f.read(1 << 20):
                        read += len(chunk)
                        if read > MAX_UNCOMPRESSED:
                            raise RectifyError(f"Excel 文件 {path.name} 解压后超过上限 {MAX_UNCOMPRESSED // 2**20} MB")
                        buf = carry + chunk
                        # Matches wholly inside the carried tail were counted with the last chunk.
                        cells += sum(1 for x in _CELL_TAG.finditer(buf) if x.end() > len(carry))
                        formulas = formulas or _FORMULA_TAG.search(buf) is not None
                        carry = buf[-8:]
                        if cells > MAX_CELLS:
                            raise RectifyError(
                                f"Excel 文件 {path.name} 的单元格超过 {MAX_CELLS} 个：请删去多余的行列或工作表后再导入")
            return formulas
    except zipfile.BadZipFile:
        raise RectifyError(f"无法读取 Excel 文件 {path.name}：不是有效的 .xlsx 文件") from None


def _uncomputed_cells(path: Path) -> dict[str, dict[tuple[int, int], Uncomputed]]:
    """Per visible sheet, the formula cells (row, column; 1-based); their cached values are read
    separately, so only cells that end up empty there count."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    try:
        found: dict[str, dict[tuple[int, int], Uncomputed]] = {}
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":
                continue
            cells = found.setdefault(ws.title, {})
            for row in ws.iter_rows(max_col=MAX_COLUMNS):
                for cell in row:
                    if getattr(cell, "data_type", None) == "f":
                        cells[(cell.row, cell.column)] = Uncomputed(str(cell.value))
        return found
    finally:
        wb.close()


def _read_xlsx(path: Path) -> list[Sheet]:
    from openpyxl import load_workbook  # only the import path pays for openpyxl

    has_formulas = _measure_zip(path)
    try:
        # Not read_only: merged ranges are only available on normal worksheets.
        wb = load_workbook(path, data_only=True)
        formulas = _uncomputed_cells(path) if has_formulas else {}
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise RectifyError(f"无法读取 Excel 文件 {path.name}：{exc}") from None
    sheets = []
    for ws in wb.worksheets:
        name = path.name if len(wb.worksheets) == 1 else f"{path.name}[{ws.title}]"
        if ws.sheet_state != "visible":
            sheets.append(Sheet(name, [], hidden=True))
            continue
        # max_row counts styled empty cells (a format applied down to row 1,048,576); the grid
        # only needs to reach the last cell that holds something.
        last = max((r for (r, c), cell in ws._cells.items() if cell.value is not None and c <= MAX_COLUMNS),
                   default=0)
        grid = [list(r) for r in ws.iter_rows(max_row=last, max_col=min(ws.max_column, MAX_COLUMNS),
                                               values_only=True)] if last else []
        for (r, c), marker in formulas.get(ws.title, {}).items():
            if r <= len(grid) and c <= len(grid[r - 1]) and grid[r - 1][c - 1] is None:
                grid[r - 1][c - 1] = marker
        # A merged range keeps its value in the top-left cell only; copy it to every cell so a
        # problem spanning several measure rows reads the same on each row.
        for rng in ws.merged_cells.ranges:
            value = grid[rng.min_row - 1][rng.min_col - 1] \
                if rng.min_row <= len(grid) and rng.min_col <= len(grid[rng.min_row - 1]) else None
            for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
                row = grid[r]
                for c in range(rng.min_col - 1, rng.max_col):
                    if c < len(row):
                        row[c] = value
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
    csv.field_size_limit(CSV_FIELD_LIMIT)
    # newline="" keeps line breaks inside quoted cells (Alt+Enter in Excel) intact.
    rows = csv.reader(io.StringIO(text, newline=""))
    out: list[tuple[int, list]] = []
    try:
        for r in rows:
            out.append((len(out) + 1, list(r)))
    except csv.Error as exc:
        reason = (f"单元格超过 {CSV_FIELD_LIMIT // 1024} KB（常见原因是引号不配对）"
                  if "field larger" in str(exc) else f"格式有误（{exc}）")
        raise RectifyError(f"{path.name} 第{len(out) + 1}行：{reason}") from None
    return out
