"""The report as PDF: the Word file converted by LibreOffice (`soffice --headless`), with the
official faces mapped to open ones by rectify/data/fonts/fontconfig.conf (FONTCONFIG_FILE), so a
server without 方正小标宋简体/仿宋_GB2312 prints a title, body and headings that still differ as
the standard means them to. LibreOffice runs with a throw-away profile: a second instance
using the person's own profile would refuse to start while their LibreOffice is open.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rectify.errors import RectifyError

FONTCONFIG = Path(__file__).resolve().parent.parent / "data" / "fonts" / "fontconfig.conf"
NO_SOFFICE = (
    "未找到 LibreOffice（soffice），无法生成 PDF：请安装 libreoffice-writer（见 docs/report-document.md）"
)
TIMEOUT = 600


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(source: Path, target: Path) -> Path:
    """Convert source (.docx, .xlsx) to target (.pdf) with the alias fonts."""
    exe = soffice()
    if exe is None:
        raise RectifyError(NO_SOFFICE)
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTCONFIG)}
    with tempfile.TemporaryDirectory(prefix="rectify-soffice-") as tmp:
        work = Path(tmp)
        profile = (work / "profile").as_uri()
        try:
            result = subprocess.run(
                [
                    exe,
                    f"-env:UserInstallation={profile}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(work),
                    str(source),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise RectifyError(f"LibreOffice 转换 PDF 超时（{TIMEOUT} 秒）：{source.name}") from None
        produced = work / (source.stem + ".pdf")
        if result.returncode != 0 or not produced.exists():
            reason = (result.stderr or result.stdout or "").strip().splitlines()
            raise RectifyError(f"LibreOffice 未能转换 {source.name}：{reason[-1] if reason else '无输出'}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), target)
    return target
