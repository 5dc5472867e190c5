"""Register import, between parsing and applying: the parsed rows against the ledger's people
and the importer's right to import them. Nothing here writes.

Every name a row gives must be in the ledger or in the file's people sheet (a Problem per
cell, reported with the parser's); importing is a secretary's, and the ledger, not the file,
says who the secretary is; an import nobody proved (started from the UI) may not change who
receives whose codes. rectify.importer calls these before applying a clean file.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Person, Role
from rectify.errors import Forbidden
from rectify.register_rows import ParsedRegister, Problem


def check_references(session: Session, parsed: ParsedRegister, problems: list[Problem]) -> dict[str, Person]:
    known = {p.name: p for p in session.scalars(select(Person))}
    sheet_names = {p.name for p in parsed.people}
    for item in parsed.items:
        for column, names in (("责任领导", [item.leader]), ("责任人", [item.owner, *item.co_owners])):
            for name in names:
                if name and name not in known and name not in sheet_names:
                    problems.append(Problem(item.origin, item.row, column, name, "不在人员名单中"))
    return known


def check_actor(actor: str | None, known: dict[str, Person], parsed: ParsedRegister) -> None:
    """Importing is the secretary's job, and the ledger, not the file, says who the secretary is:
    a people sheet cannot grant its importer the right to import it. Only a ledger without any
    secretary yet (the very first import) takes the acting person's role from the sheet."""
    if any(p.role is Role.secretary for p in known.values()):
        if not actor:
            raise Forbidden("导入整改清单须由秘书操作：请用 --as 姓名 或设置环境变量 RECTIFY_USER")
        person = known.get(actor)
        if person is None:
            raise Forbidden(f"台账人员中没有“{actor}”：导入整改清单须由台账中已有的秘书操作")
        if person.role is not Role.secretary:
            raise Forbidden(f"{actor}（{person.role.label}）无权导入整改清单，仅秘书可以")
        after = {n: p.role for n, p in known.items()} | {r.name: r.role for r in parsed.people}
        if Role.secretary not in after.values():
            raise Forbidden(
                "人员名单会取消台账中全部秘书的角色，导入后将无人能交办和审核：请至少保留一名秘书"
            )
        return
    if actor:
        sheet_roles = {p.name: p.role for p in parsed.people}
        role = sheet_roles.get(actor) or (known[actor].role if actor in known else None)
        if role is None:
            raise Forbidden(f"人员名单中没有“{actor}”")
        if role is not Role.secretary:
            raise Forbidden(f"{actor}（{role.label}）无权导入整改清单，仅秘书可以")


def check_unproven(known: dict[str, Person], parsed: ParsedRegister) -> None:
    """An import nobody proved (the intake started from the UI or the REST API, audited as the
    system) may bring items and new owners and leaders, but not decide who receives whose codes
    or who may sign: changing a known person's address or role, or making a new secretary
    while the ledger has one, is the secretary's, on the command line (rectify import --as)."""
    if not any(p.role is Role.secretary for p in known.values()):
        return  # the very first import: nobody to protect yet
    changed = [
        r.name
        for r in parsed.people
        if r.name in known and (known[r.name].email != r.email or known[r.name].role is not r.role)
    ]
    added = [r.name for r in parsed.people if r.name not in known and r.role is Role.secretary]
    if changed or added:
        names = "、".join(changed + added)
        raise Forbidden(
            f"从界面启动的导入不能修改人员的邮箱或角色、不能新增秘书（{names}）："
            "请秘书在命令行导入人员名单（rectify import --as 姓名）"
        )
