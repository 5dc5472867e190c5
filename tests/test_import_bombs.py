"""Workbooks built to exhaust the reader: a sparse sheet whose three values span the whole
grid, and an oversized or overfull shared-string table. Refused in one line before openpyxl
reads them, with the memory the refusal took measured in a fresh process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile

import pytest
from openpyxl import Workbook

from ledger_helpers import dump
from rectify import sheets
from ledger_helpers import RECTIFY, env_for
from import_cli_helpers import _cli, _one_error_line
from register_helpers import DAY, messy_items, write_xlsx

MEMORY_LIMIT_MB = 50


def sparse_bomb(path):
    """5 KB: values only in A1, CV1 and A1048576 (the cell count guard sees three cells)."""
    wb = Workbook()
    ws = wb.active
    ws["A1"], ws["CV1"] = "编号", "备注"
    ws.cell(row=1_048_576, column=1, value="尾")
    wb.save(path)
    return path


def merged_bomb(path):
    """One value and one merged range over the rest of the grid (written into the XML: openpyxl
    itself would build the range's cells to write it)."""
    wb = Workbook()
    wb.active["A1"] = "编号"
    wb.save(path.with_suffix(".base.xlsx"))
    with (
        zipfile.ZipFile(path.with_suffix(".base.xlsx")) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</sheetData>",
                    b'</sheetData><mergeCells count="1"><mergeCell ref="A2:CV1048576"/></mergeCells>',
                )
            dst.writestr(item, data)
    return path


def with_shared_strings(path, strings: int, size: int):
    """A small register whose sharedStrings part is replaced by `strings` entries of `size`
    bytes in all (deflated: a 93 MB part is a few MB on disk)."""
    base = write_xlsx(path.with_suffix(".base.xlsx"), messy_items()[:1])
    text = ("长" * max(1, size // strings // 3)).encode()
    body = b"".join(b"<si><t>" + text + b"</t></si>" for _ in range(strings))
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (strings, strings)
    )
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "xl/sharedStrings.xml":
                dst.writestr(item, src.read(item))
        dst.writestr("xl/sharedStrings.xml", head + body + b"</sst>")
    return path


# The probe runs with its address space capped, so a reader that does build the grid fails
# fast with MemoryError instead of taking the shared machine's memory.
PROBE = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
from pathlib import Path
from rectify import sheets
from rectify.errors import RectifyError
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    sheets.read_sheets(Path(sys.argv[1]))
    message = None
except RectifyError as exc:
    message = str(exc)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"message": message, "mb": (peak - base) / 1024, "s": time.perf_counter() - start}))
"""


def refused_cheaply(path) -> str:
    """Read `path` in a fresh process: the refusal's message and the memory it took."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["message"], "not refused"
    assert result["mb"] < MEMORY_LIMIT_MB, result
    return result["message"]


@pytest.mark.parametrize(
    "make, words",
    [
        (sparse_bomb, "1048576 行 × 100 列，但只有 3 个单元格有内容"),
        (merged_bomb, "1048576 行 × 100 列，但只有 1 个单元格有内容"),
    ],
)
def test_a_sparse_sheet_is_refused_before_it_is_read(tmp_path, make, words):
    path = make(tmp_path / "稀疏.xlsx")
    assert path.stat().st_size < 10_000
    assert words in refused_cheaply(path)


def test_an_oversized_shared_string_table_is_refused(tmp_path):
    path = with_shared_strings(tmp_path / "大字符串.xlsx", 50, sheets.MAX_SHARED_STRINGS + 2**20)
    assert path.stat().st_size < 2 * 2**20  # a small file on disk
    assert "解压后超过上限 32 MB" in refused_cheaply(path)


def test_a_shared_string_table_with_nothing_to_refer_to_it_is_refused(tmp_path):
    path = with_shared_strings(tmp_path / "多字符串.xlsx", 200_000, 4 * 2**20)
    assert "共享字符串远多于单元格（" in refused_cheaply(path)


def test_a_sparse_bomb_is_one_line_on_the_command_line(sqlite_url, tmp_path):
    path = sparse_bomb(tmp_path / "稀疏.xlsx")
    before = dump(sqlite_url)
    result = subprocess.run(
        [str(RECTIFY), "import", str(path), "--today", DAY.isoformat()],
        cwd=tmp_path,
        env=env_for(sqlite_url),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "错误：Excel 文件 稀疏.xlsx 的数据范围达 1048576 行 × 100 列，但只有 3 个单元格有内容"
        "（远处有零星内容或合并单元格）：请删去多余的行列后再导入"
    ]
    assert dump(sqlite_url) == before


def test_importing_a_directory_says_so(sqlite_url, settings_env, tmp_path, monkeypatch):
    settings_env(sqlite_url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "台账").mkdir()
    line = _one_error_line(_cli(["import", "台账", "--today", DAY.isoformat()]))
    assert line == "错误：台账 是一个目录，不是文件：请指定要导入的 .xlsx 或 .csv 文件"
