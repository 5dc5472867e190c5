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
# What the reader would build (rows x columns up to the last content) and how sparse it may
# be: a 10,000-row register of 15 columns is 150,000; 5 KB of XML can claim 10^8.
MAX_GRID = 2_000_000
SPARSE_FLOOR, SPARSE_RATIO = 200_000, 20
# The shared-string table is parsed whole; a register's text is a few MB of it.
MAX_SHARED_STRINGS = 32 * 1024 * 1024
# A cell tag, self-closing or directly closed (`<c r="A9" s="1"></c>`: a format, no content).
_CELL_OR_ROW = re.compile(rb"<((?:\w+:)?(?:c|row))((?:\s[^>]*?)?)(/>|>\s*</(?:\w+:)?c>|>)")
_REF = re.compile(rb'\sr="([A-Z]{0,3})([0-9]{0,7})"')
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})"')
_SHARED_STRING = re.compile(rb"<(?:\w+:)?si[\s>/]")
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


# What a spreadsheet program takes for the start of a formula when the cell is edited (OWASP's
# list for formula injection): = + - @, and tab / carriage return before them.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_text_cell(cell):
    """Keep an exported text cell text, also once someone edits it in Excel: a string cell
    (openpyxl would infer a formula from "=…"), and for text that starts like a formula the
    quote prefix, Excel's own mark for text typed as '=…, which is not shown and not part of
    the value (the importer reads the text back unchanged)."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if cell.value.startswith(FORMULA_START):
            cell.quotePrefix = True
    return cell


def read_sheets(path: Path) -> list[Sheet]:
    if not path.exists():
        raise RectifyError(f"文件不存在：{path}")
    if path.is_dir():
        raise RectifyError(f"{path} 是一个目录，不是文件：请指定要导入的 .xlsx 或 .csv 文件")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return [Sheet(path.name, _read_csv(path))]
    raise RectifyError(f"不支持的文件类型：{path.name}（请使用 .xlsx 或 .csv）")


def _measure_zip(path: Path) -> bool:
    """Refuse oversized or sparse-bomb workbooks before inflating them (streamed in 1 MB
    pieces, so a refusal costs a few MB of memory); True when any sheet holds a formula."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_UNCOMPRESSED:
                raise RectifyError(
                    f"Excel 文件 {path.name} 解压后达 {total // 2**20} MB，超过上限 "
                    f"{MAX_UNCOMPRESSED // 2**20} MB（可能含大量无关内容）：请删去多余内容或另存为 CSV 后再导入"
                )
            cells, formulas = 0, False
            for m in members:
                if not m.filename.startswith("xl/worksheets/") or not m.filename.endswith(".xml"):
                    continue
                extent = _Extent()
                for buf in _inflate(zf, m, path):
                    cells += extent.feed(buf)
                    formulas = formulas or _FORMULA_TAG.search(buf) is not None
                    if cells > MAX_CELLS:
                        raise RectifyError(
                            f"Excel 文件 {path.name} 的单元格超过 {MAX_CELLS} 个：请删去多余的行列或工作表后再导入"
                        )
                extent.check(path.name)
            for m in members:
                if m.filename.lower() == "xl/sharedstrings.xml":
                    _check_shared_strings(zf, m, path, cells)
            return formulas
    except zipfile.BadZipFile:
        raise RectifyError(f"无法读取 Excel 文件 {path.name}：不是有效的 .xlsx 文件") from None


def _inflate(zf: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path, limit: int = MAX_UNCOMPRESSED):
    """A member's XML in pieces that end at a tag boundary; the declared sizes can lie, so the
    inflated bytes are counted and stopped at `limit`."""
    read, carry = 0, b""
    with zf.open(member) as f:
        while chunk := f.read(1 << 20):
            read += len(chunk)
            if read > limit:
                raise RectifyError(f"Excel 文件 {path.name} 解压后超过上限 {limit // 2**20} MB")
            buf = carry + chunk
            cut = buf.rfind(b"<")
            if cut == -1 or buf.find(b">", cut) != -1:
                carry = b""
            else:  # an unfinished tag: keep it for the next piece
                buf, carry = buf[:cut], buf[cut:]
                if len(carry) > 1 << 20:
                    raise RectifyError(f"无法读取 Excel 文件 {path.name}：工作表格式异常")
            yield buf
    if carry:
        yield carry


def _column(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


class _Extent:
    """How far a sheet's content really reaches: the grid the reader would build is the last
    row with content times the last such column (of the first MAX_COLUMNS), and merged ranges
    extend it. Cells without content (`<c r="A9" s="1"/>`, a format) do not count."""

    def __init__(self):
        self.rows = self.cols = self.filled = 0
        self.row = 0  # the current <row r=...>, for cells that omit their own reference

    def feed(self, buf: bytes) -> int:
        cells = 0
        for tag, attrs, empty in _CELL_OR_ROW.findall(buf):
            ref = _REF.search(attrs)
            if tag.endswith(b"row"):
                self.row = int(ref.group(2)) if ref and ref.group(2) else self.row + 1
                continue
            cells += 1
            if empty != b">":
                continue
            row, col = (int(ref.group(2)), _column(ref.group(1))) if ref else (self.row, 1)
            if col <= MAX_COLUMNS:
                self.filled += 1
                self.rows, self.cols = max(self.rows, row), max(self.cols, col)
        for first_col, _first_row, last_col, last_row in _MERGE.findall(buf):
            if _column(first_col) <= MAX_COLUMNS:
                self.rows = max(self.rows, int(last_row))
                self.cols = max(self.cols, min(_column(last_col), MAX_COLUMNS))
        return cells

    def check(self, name: str) -> None:
        grid = self.rows * self.cols
        if grid > MAX_GRID or (grid > SPARSE_FLOOR and grid > SPARSE_RATIO * self.filled):
            raise RectifyError(
                f"Excel 文件 {name} 的数据范围达 {self.rows} 行 × {self.cols} 列，但只有 {self.filled} "
                "个单元格有内容（远处有零星内容或合并单元格）：请删去多余的行列后再导入"
            )


def _check_shared_strings(zf: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path, cells: int) -> None:
    """The shared-string table is read whole into memory: cap its size, and refuse one with
    far more strings than the sheets have cells (nothing could refer to them)."""
    strings = 0
    for buf in _inflate(zf, member, path, MAX_SHARED_STRINGS):
        strings += len(_SHARED_STRING.findall(buf))
        if strings > cells + 1000:
            raise RectifyError(
                f"Excel 文件 {path.name} 的共享字符串远多于单元格（{strings} 条，{cells} 个单元格）："
                "请将有用的内容复制到新工作簿或另存为 CSV 后再导入"
            )


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
        grid = _grid(ws, formulas.get(ws.title, {}))
        for (r, c), marker in formulas.get(ws.title, {}).items():
            if r <= len(grid) and c <= len(grid[r - 1]) and grid[r - 1][c - 1] is None:
                grid[r - 1][c - 1] = marker
        # A merged range keeps its value in the top-left cell only; copy it to every cell so a
        # problem spanning several measure rows reads the same on each row.
        for rng in ws.merged_cells.ranges:
            value = (
                grid[rng.min_row - 1][rng.min_col - 1]
                if rng.min_row <= len(grid) and rng.min_col <= len(grid[rng.min_row - 1])
                else None
            )
            for r in range(rng.min_row - 1, min(rng.max_row, len(grid))):
                row = grid[r]
                for c in range(rng.min_col - 1, rng.max_col):
                    if c < len(row):
                        row[c] = value
        sheets.append(Sheet(name, [(i + 1, row) for i, row in enumerate(grid)]))
    return sheets


def _grid(ws, formulas: dict) -> list[list]:
    """The sheet's values up to its last cell with content (or formula, or merged range) in the
    first MAX_COLUMNS columns. max_row/max_column count styled empty cells (a format applied
    down to row 1,048,576), and iter_rows would create a cell object for every position:
    the grid is filled from the cells that exist instead, and its size was checked before
    the workbook was loaded (_Extent)."""
    spots = [(r, c) for (r, c), cell in ws._cells.items() if cell.value is not None and c <= MAX_COLUMNS]
    spots += [rc for rc in formulas if rc[1] <= MAX_COLUMNS]
    spots += [
        (rng.max_row, min(rng.max_col, MAX_COLUMNS))
        for rng in ws.merged_cells.ranges
        if rng.min_col <= MAX_COLUMNS
    ]
    rows = max((r for r, _ in spots), default=0)
    cols = max((c for _, c in spots), default=0)
    grid = [[None] * cols for _ in range(rows)]
    for (r, c), cell in ws._cells.items():
        if r <= rows and c <= cols and cell.value is not None:
            grid[r - 1][c - 1] = cell.value
    return grid


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
        reason = (
            f"单元格超过 {CSV_FIELD_LIMIT // 1024} KB（常见原因是引号不配对）"
            if "field larger" in str(exc)
            else f"格式有误（{exc}）"
        )
        raise RectifyError(f"{path.name} 第{len(out) + 1}行：{reason}") from None
    return out
