"""End to end on one machine, as the README sets it up: `prefect server start` on loopback and
`rectify serve` as real processes; a register goes in through the intake deployment, one item
is driven from assignment to closure through the Prefect UI in headless Chromium: the owner's
销号申请, the leader's 领导审核 and the secretary's 销号审核 are typed and chosen in the run's
Resume form (tests/ui_forms.py), each with the 验证码 read from that person's .eml, and the
ledger is read after each. Two refusals go through the REST call the form makes (a name that is
no secretary's, a wrong code: nothing changes). Screenshots of each form are kept under the
test's tmp dir (the review form copied to docs/screenshots/ for the README with
RECTIFY_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ui_forms as form  # noqa: E402
from mail_codes import latest_act  # noqa: E402
from processes import checked_calls, wait_for
from e2e_helpers import BIN, chromium, prefect_server, rectify

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshots" / "prefect-ui-review-form.png"
CODE = "ZG-2026-101"
HOSTILE = "学习方案已印发实施，详见**方案**[下载](http://evil.test/a.exe) <b>x</b>"
# The server's basic auth is on, as every set-up beyond loopback must have it (docs/acting-by-email.md)
AUTH = ("rectify", "e2e-not-a-real-secret")


def write_register(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "问题整改清单"
    ws.append(
        ["序号", "问题来源", "问题类别", "问题描述", "整改措施", "责任领导", "责任部门", "责任人", "整改时限"]
    )
    ws.append(
        [
            CODE,
            "专题组织生活会",
            "班子问题",
            "学习形式还不够丰富，学习方式较为单一。",
            "制定读书班与专题研讨相结合的学习方案",
            "周建国",
            "机关党支部",
            "赵磊",
            "12月底前",
        ]
    )
    ws.append(
        [
            "ZG-2026-102",
            "调研走访",
            "服务对象反映问题",
            "企业反映融资难，缺少银企对接渠道。",
            "召开银企对接会",
            "郑永强",
            "企业服务科",
            "孙丽",
            "30个工作日内",
        ]
    )
    people = wb.create_sheet("人员名单")
    people.append(["姓名", "职务", "部门", "邮箱", "角色"])
    for row in (
        ("陈静", "办公室主任", "办公室", "chenjing@xxj.example.gov.cn", "秘书"),
        ("周建国", "党组书记", "局领导", "zhoujianguo@xxj.example.gov.cn", "责任领导"),
        ("郑永强", "副局长", "局领导", "zhengyongqiang@xxj.example.gov.cn", "分管领导"),
        ("赵磊", "专职副书记", "机关党支部", "zhaolei@xxj.example.gov.cn", "责任人"),
        ("孙丽", "科长", "企业服务科", "sunli@xxj.example.gov.cn", "责任人"),
    ):
        people.append(list(row))
    wb.save(path)
    return path


@pytest.fixture
def stack(tmp_path):
    import httpx

    with prefect_server(
        tmp_path,
        {
            "PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH),
            "PREFECT_API_AUTH_STRING": ":".join(AUTH),
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # pick resumed runs up quickly
            "RECTIFY_UI_URL": "http://127.0.0.1:{port}",
        },
    ) as (procs, api, port, env):
        # nobody without the password reaches the API
        assert httpx.post(f"{api}/flow_runs/filter", json={}).status_code == 401
        procs.start("serve", [str(BIN / "rectify"), "serve"], env)
        yield {"api": api, "ui": f"http://127.0.0.1:{port}", "env": env, "tmp": tmp_path, "procs": procs}


def test_register_to_closure_through_server_cli_and_ui(stack):
    import httpx

    api = stack["api"]
    client = httpx.Client(base_url=api, timeout=60, auth=AUTH)  # a ceiling: slow under load
    register = write_register(stack["tmp"] / "整改清单.xlsx")

    call = checked_calls(client, patience=60)

    class http:  # the calls below read as before, every status checked
        get = staticmethod(lambda url, **kw: call("GET", url, **kw))
        post = staticmethod(lambda url, **kw: call("POST", url, **kw))

    def deployment(name):
        r = http.get(f"/deployments/name/{name}", expect=(200, 404))
        return r.json() if r.status_code == 200 else None

    intake_dep = wait_for("intake deployment", lambda: deployment("intake/intake"))
    assert wait_for("item deployment", lambda: deployment("rectification-item/rectification-item"))
    # the schedules come from prefect.yaml (cron with timezone)
    watch = deployment("deadline-watch/deadline-watch")
    if watch:
        assert watch["schedules"][0]["schedule"]["timezone"] == "Asia/Shanghai"

    def post(path, body):
        """A POST as the UI sends it; a 503 from a server starved of CPU (Prefect sheds load
        that way) is sent again, as a person would click again."""

        def answer():
            r = http.post(path, json=body)
            return None if r.status_code >= 500 else r

        return wait_for(f"an answer to POST {path}", answer)

    # from the UI nobody is proven: the intake imports, then waits for 交办确认 (issue #9)
    created = post(
        f"/deployments/{intake_dep['id']}/create_flow_run", {"parameters": {"paths": [str(register)]}}
    )
    assert created.status_code == 201, created.text
    run = created.json()

    def state_of(run_id):
        return http.get(f"/flow_runs/{run_id}").json()

    def finished(run_id):
        s = state_of(run_id)["state"]
        assert s["type"] not in ("FAILED", "CRASHED", "CANCELLED"), s
        return s["type"] == "COMPLETED"

    def confirm_form():
        s = state_of(run["id"])["state"]
        assert s["type"] not in ("FAILED", "CRASHED"), s
        if s["type"] != "PAUSED" or s["state_details"]["pause_key"] != "confirm-0":
            return None
        r = http.get(f"/flow_runs/{run['id']}/input/suspended-confirm-0-schema", expect=(200, 404))
        return r.json() if r.status_code == 200 else None

    schema = wait_for("the intake's 交办确认 form", confirm_form)
    batch = schema["properties"]["items"]["default"]
    assert CODE in batch
    secretary_code, _, _ = wait_for(
        "the secretary's 交办确认 email",
        lambda: latest_act(stack["tmp"] / "outbox", "chenjing@xxj.example.gov.cn", "交办确认"),
    )
    answer = post(
        f"/flow_runs/{run['id']}/resume",
        {"run_input": {"items": batch, "secretary": "陈静", "code": secretary_code}},
    )
    assert answer.json().get("status") == "ACCEPT", answer.text
    wait_for("intake run", lambda: finished(run["id"]))

    item = json.loads(rectify(stack, "show", CODE, "--json").stdout)
    listed = {r["code"]: r for r in json.loads(rectify(stack, "list", "--json").stdout)}
    assert len(listed) == 2
    with __import__("sqlite3").connect(stack["tmp"] / "rectify.db") as db:
        run_id = db.execute("SELECT flow_run_id FROM items WHERE code=?", (CODE,)).fetchone()[0]
    assert run_id

    def show() -> dict:
        out = rectify(stack, "show", CODE, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def waiting(key):
        """Paused at `key` with its form saved: the run sets the state before it writes the
        form's schema, and a resume in between is refused ("Run input schema not found")."""
        s = state_of(run_id)["state"]
        assert s["type"] not in ("FAILED", "CRASHED"), s
        return (
            s["type"] == "PAUSED"
            and s["state_details"]["pause_key"] == key
            and http.get(f"/flow_runs/{run_id}/input/suspended-{key}-schema").status_code == 200
        )

    wait_for("assignment and the submission form", lambda: waiting("submit-1-0"))
    fr = state_of(run_id)
    assert fr["name"] == f"{CODE} 学习形式还不够丰富"
    assert "类别:班子问题" in fr["tags"] and "领导:周建国" in fr["tags"]
    item = json.loads(rectify(stack, "show", CODE, "--json").stdout)
    assert item["status"] == "in_progress"
    # the submission form also offers 申请延期 and which measures this submission completes
    schema = http.get(f"/flow_runs/{run_id}/input/suspended-submit-1-0-schema").json()
    assert schema["properties"]["completes"]["title"] == "本次完成的措施"
    assert schema["properties"]["extend_to"]["title"] == "申请延期至"
    assert {"申请销号", "申请延期"} <= set(json.dumps(schema, ensure_ascii=False).split('"'))

    outbox = stack["tmp"] / "outbox"
    ui, shots = stack["ui"], stack["tmp"]
    with chromium(stack["tmp"]) as page:
        log_in(page, ui)

        # the owner submits through the UI's form, with the code from their 交办 email; what a
        # person wrote shows as written in the later forms, also when it looks like Markdown
        code, _, _ = latest_act(outbox, "zhaolei@xxj.example.gov.cn", "销号申请")

        def owner_fills(page):
            form.type_text(page, "整改情况说明", HOSTILE)
            form.add_item(page, "佐证材料", "https://example.gov.cn/方案.pdf")
            form.add_item(page, "本次完成的措施", "1")
            form.choose(page, "提交人", "赵磊")
            form.type_text(page, "验证码", code)

        form.fill(
            page,
            ui,
            run_id,
            "请责任人（或责任领导）填写销号申请",
            owner_fills,
            {
                "申请事项": ["申请销号"],
                "整改情况说明": [HOSTILE],
                "佐证材料": ["https://example.gov.cn/方案.pdf"],
                "本次完成的措施": ["1"],
                "申请延期至": [""],
                "提交人": ["赵磊"],
                "验证码": [code],
            },
        )
        form.screenshot(page, shots / "submit-form.png", top=False)
        form.submit(page)
        wait_for("the leader's sign-off form", lambda: waiting("signoff-1-0"))
        assert show()["status"] == "leader_review"
        assert "待领导审核" in state_of(run_id)["tags"]

        # the leader signs off in the form his email links to
        code, link, _ = latest_act(outbox, "zhoujianguo@xxj.example.gov.cn", "领导审核")
        assert link == f"{ui}/runs/flow-run/{run_id}"

        def leader_fills(page):
            form.choose(page, "审核结论", "同意销号")
            form.type_text(page, "审核意见", "同意")
            form.type_text(page, "验证码", code)

        form.fill(
            page,
            ui,
            run_id,
            "请责任领导审核销号申请",
            leader_fills,
            {"审核结论": ["同意销号"], "审核意见": ["同意"], "审核人": ["周建国"], "验证码": [code]},
        )
        form.screenshot(page, shots / "signoff-form.png", top=False)
        form.submit(page)
        wait_for("the review form", lambda: waiting("review-1-0"))
        assert "待审核" in state_of(run_id)["tags"] and "待领导审核" not in state_of(run_id)["tags"]
        assert show()["status"] == "submitted"
        code, link, _ = wait_for(
            "the secretary's email", lambda: latest_act(outbox, "chenjing@xxj.example.gov.cn", "销号审核")
        )

        # the review form as the UI reads it: schema and Chinese description
        schema = http.get(f"/flow_runs/{run_id}/input/suspended-review-1-0-schema").json()
        assert schema["properties"]["reviewer"]["title"] == "审核人"
        assert schema["properties"]["recheck_on"]["title"] == "复核日期（回头看）"
        assert schema["properties"]["reviewer"]["enum"] == ["陈静"]
        assert schema["properties"]["code"]["title"] == "验证码"

        # refused through the REST call the form makes: a name that is no secretary's by the
        # server; a wrong code by the run, which asks again with nothing changed
        before = show()
        r = http.post(
            f"/flow_runs/{run_id}/resume",
            json={"run_input": {"decision": "同意销号", "comment": "", "reviewer": "赵磊", "code": code}},
        )
        assert r.json()["status"] == "REJECT", r.text
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        r = http.post(
            f"/flow_runs/{run_id}/resume",
            json={"run_input": {"decision": "同意销号", "comment": "", "reviewer": "陈静", "code": wrong}},
        )
        assert r.json()["status"] == "ACCEPT", r.text
        wait_for("the form asked again", lambda: waiting("review-1-1"))
        assert show() == before

        # the secretary approves in the form, with the 回头看 date typed into the date field
        def secretary_fills(page):
            form.choose(page, "审核结论", "同意销号")
            form.type_text(page, "审核意见", "整改到位，同意销号")
            form.type_keys(page, "复核日期（回头看）", "03012027")
            form.type_text(page, "验证码", code)

        form.fill(
            page,
            ui,
            run_id,
            "上次提交未被受理",
            secretary_fills,
            {
                "审核结论": ["同意销号"],
                "审核意见": ["整改到位，同意销号"],
                "审核人": ["陈静"],
                "复核日期（回头看）": ["2027-03-01"],
                "验证码": [code],
            },
        )
        form.screenshot(page, shots / "review-form.png")
        text = form.dialog_text(page)
        assert f"{CODE} 学习形式还不够丰富" in text
        assert "审核结论" in text and "请秘书审核销号申请" in text
        # rendered by the UI's Markdown: the summary reads literally, no bold, no link
        assert HOSTILE in text, text
        assert form.evaluate(page, "document.querySelectorAll('a[href*=\"evil.test\"]').length") == 0
        if os.environ.get("RECTIFY_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shots / "review-form.png", SCREENSHOT)
        form.screenshot(page, shots / "review-form-filled.png", top=False)
        form.submit(page)
        wait_for("the item run to complete", lambda: finished(run_id))

        # the timeline and the logs name each task run in Chinese, without a suffix
        names = [
            t["name"]
            for t in http.post(
                "/task_runs/filter", json={"task_runs": {"flow_run_id": {"any_": [run_id]}}}
            ).json()
        ]
        assert {"销号申请", "领导审核", "销号审核", "销号通知"} <= set(names), names
        assert all(re.fullmatch(r"[\u4e00-\u9fff]+", n) for n in names), names
        page("Page.navigate", url=f"{ui}/runs/flow-run/{run_id}")  # its logs name the tasks
        wait_for(
            "the run's page, completed",
            lambda: "Completed" in form.evaluate(page, "document.body?.innerText || ''"),
        )
        form.screenshot(page, shots / "run-page.png")
    assert show()["recheck_on"] == "2027-03-01"

    # each execution of the run logs "Suspending flow run" only when it suspends: the last one,
    # which found its input and closed the item, says nothing of the kind
    def executions():
        logs = http.post(
            "/logs/filter",
            json={"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200},
        ).json()
        text = "\n".join(entry["message"] for entry in logs)
        return text.split("Beginning flow run")[1:] if "已销号，流程结束" in text else None

    runs = wait_for("the run's last logs", executions, timeout=120)
    assert "已销号，流程结束" in runs[-1] and "Suspending flow run" not in runs[-1], runs[-1]
    assert all(r.count("Suspending flow run") <= 1 for r in runs), runs

    listed = {r["code"]: r for r in json.loads(rectify(stack, "list", "--json").stdout)}
    assert listed[CODE]["status"] == "closed"
    audit = [
        (a["action"], a["actor"]) for a in json.loads(rectify(stack, "show", CODE, "--json").stdout)["audit"]
    ]
    # the UI's intake imports as the system; 陈静 signed the 交办 with her 交办确认 code
    assert audit == [
        ("import", "系统"),
        ("assign", "陈静"),
        ("submit", "赵磊"),
        ("signoff", "周建国"),
        ("approve", "陈静"),
    ]
    proofs = [a.get("proof") for a in json.loads(rectify(stack, "show", CODE, "--json").stdout)["audit"]]
    assert proofs[:2] == [None, "邮件验证码"], proofs  # the import, then 交办 by her code

    # 回头看: the closed item's run has ended, so the reopen starts a new one that `rectify serve`
    # runs up to the next closure submission form
    out = rectify(stack, "reopen", CODE, "--reason", "回头看发现学习方案未落实", "--as", "陈静")
    assert out.returncode == 0, out.stderr
    with __import__("sqlite3").connect(stack["tmp"] / "rectify.db") as db:
        new_run = db.execute("SELECT flow_run_id FROM items WHERE code=?", (CODE,)).fetchone()[0]
    assert new_run != run_id and f"已启动新的流程运行 {new_run}" in out.stdout, out.stdout + out.stderr
    run_id = new_run
    wait_for("the reopened item's submission form", lambda: waiting("submit-2-0"))
    assert state_of(run_id)["name"] == f"{CODE} 学习形式还不够丰富"


def log_in(call, ui: str) -> None:
    """Log in as the UI's login page does: the password, base64, in localStorage."""
    call("Page.navigate", url=f"{ui}/")
    wait_for("the UI", lambda: form.evaluate(call, "document.readyState") == "complete")
    call(
        "Runtime.evaluate",
        expression=(f"localStorage.setItem('prefect-password', btoa({json.dumps(':'.join(AUTH))}))"),
    )
