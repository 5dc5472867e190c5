"""Filling the Prefect UI's Resume form in headless Chromium as a person does, over the DevTools
protocol: find a field by its Chinese title, click into it, type (Input.insertText, or key
presses for a date), choose in a drop-down with the arrow keys, press 添加 (Add item) for a
list, then Submit. Every wait is a condition with a generous ceiling (processes.wait_for).

The UI builds the form after it has read the schema and the description; a field typed into
before that may be reset, so `fill` reads every value back and, if one was lost, closes the form,
opens it again and types once more (bounded), never a fixed sleep.
"""

from __future__ import annotations

import json
from pathlib import Path

from processes import wait_for

# the .schema-form-property whose label (without the UI's " (Optional)") is the title
FIELD_JS = """((title) => [...document.querySelectorAll('[role=dialog] .schema-form-property')]
  .find(p => { const l = p.querySelector('.schema-form-property__label');
    return l && l.innerText.replace(/\\s*\\(Optional\\)\\s*$/, '').trim() === title; }))"""
CONTROLS = "select:not(.p-native-select__control--placeholder), textarea, input"


def evaluate(call, expression: str):
    r = call("Runtime.evaluate", expression=expression, returnByValue=True)
    assert "exceptionDetails" not in r, r["exceptionDetails"]
    return r.get("result", {}).get("value")


def dialog_text(call) -> str:
    return evaluate(call, "document.querySelector('[role=dialog]')?.innerText || ''") or ""


def _focus(call, title: str, selector: str = CONTROLS, last: bool = False) -> bool:
    pick = "xs[xs.length - 1]" if last else "xs[0]"
    return (
        evaluate(
            call,
            f"""(() => {{ const p = {FIELD_JS}({json.dumps(title)});
        const xs = p ? [...p.querySelectorAll({json.dumps(selector)})] : []; const e = {pick};
        if (!e) return false; e.scrollIntoView({{block: 'center'}}); e.focus();
        return document.activeElement === e; }})()""",
        )
        is True
    )


def _key(call, key: str, code: int | None = None, text: str | None = None) -> None:
    down: dict[str, object] = {"type": "keyDown" if text else "rawKeyDown", "key": key}
    if text:
        down["text"] = text
    if code:
        down["windowsVirtualKeyCode"] = code
    call("Input.dispatchKeyEvent", **down)
    call("Input.dispatchKeyEvent", type="keyUp", key=key, **({"windowsVirtualKeyCode": code} if code else {}))


def type_text(call, title: str, text: str, *, last: bool = False) -> None:
    assert _focus(call, title, "textarea, input", last), f"表单中没有可输入的“{title}”"
    call("Input.insertText", text=text)


def type_keys(call, title: str, keys: str) -> None:
    """A date as typed into the browser's date field, digit by digit (month, day, year)."""
    assert _focus(call, title, "input"), f"表单中没有“{title}”"
    for ch in keys:
        _key(call, ch, text=ch)


SELECT = "select:not(.p-native-select__control--placeholder)"


def _chosen(call, title: str) -> str | None:
    return evaluate(
        call,
        f"""(() => {{ const p = {FIELD_JS}({json.dumps(title)});
        const e = p && p.querySelector({json.dumps(SELECT)});
        return e ? (e.selectedOptions[0]?.text || '') : null; }})()""",
    )


def choose(call, title: str, option: str) -> None:
    """The drop-down focused and walked with ↓ until the option shows, as with a keyboard
    (focused again before each key: the UI may have re-rendered the field)."""
    assert _focus(call, title, SELECT), f"表单中没有下拉框“{title}”"
    options = evaluate(
        call,
        f"[...{FIELD_JS}({json.dumps(title)}).querySelector({json.dumps(SELECT)}).options].map(o => o.text)",
    )
    assert option in options, f"“{title}”的选项 {options} 中没有“{option}”"
    for _ in range(len(options) + 1):
        if _chosen(call, title) == option:
            return
        assert _focus(call, title, SELECT), f"表单中没有下拉框“{title}”"
        _key(call, "ArrowDown", 40)
    # a drop-down with nothing chosen yet opens its list on ↓ in headless Chromium instead of
    # moving: pick the option as a click in that list does (selected, then input and change)
    evaluate(
        call,
        f"""(() => {{ const e = {FIELD_JS}({json.dumps(title)}).querySelector({json.dumps(SELECT)});
        e.selectedIndex = [...e.options].findIndex(o => o.text === {json.dumps(option)});
        e.dispatchEvent(new Event('input', {{bubbles: true}}));
        e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""",
    )
    if _chosen(call, title) != option:
        raise AssertionError(f"“{title}”选不到“{option}”（现为“{_chosen(call, title)}”）")


def add_item(call, title: str, text: str) -> None:
    """A list field: press its Add item, type into the new row."""
    before = evaluate(call, f"{FIELD_JS}({json.dumps(title)}).querySelectorAll('textarea, input').length")
    evaluate(
        call,
        f"""[...{FIELD_JS}({json.dumps(title)}).querySelectorAll('button')]
        .find(b => b.innerText.trim() === 'Add item').click()""",
    )
    wait_for(
        f"a new row in {title}",
        lambda: (
            evaluate(call, f"{FIELD_JS}({json.dumps(title)}).querySelectorAll('textarea, input').length")
            > before
        ),
        timeout=60,
        every=0.2,
    )
    type_text(call, title, text, last=True)


def values(call) -> dict[str, list[str]]:
    """Every field's title -> the values its controls show (a drop-down: the chosen text)."""
    return evaluate(
        call,
        """Object.fromEntries([...document.querySelectorAll(
        '[role=dialog] .schema-form-property')].filter(p => p.querySelector(
        '.schema-form-property__label')).map(p => [
        p.querySelector('.schema-form-property__label').innerText.replace(/\\s*\\(Optional\\)\\s*$/, '').trim(),
        [...p.querySelectorAll('select:not(.p-native-select__control--placeholder), textarea, input')].map(e =>
            e.tagName === 'SELECT' ? (e.selectedOptions[0]?.text || '') : e.value)]))""",
    )


def open_form(call, ui: str, run_id: str, ready: str) -> None:
    """The run's page, Resume pressed, the form shown with its description (`ready` in it).
    A press before the page is ready does nothing, so Resume is pressed again while no form
    shows (a person would press again too)."""
    call("Page.navigate", url=f"{ui}/runs/flow-run/{run_id}")

    def shown() -> bool:
        if not evaluate(call, "!!document.querySelector('[role=dialog]')"):
            evaluate(
                call,
                "[...document.querySelectorAll('button')]"
                ".find(b => b.innerText.trim() === 'Resume')?.click()",
            )
            return False
        return ready in dialog_text(call) and _focus(call, "验证码")

    wait_for(f"the form ({ready})", shown, every=1)


def fill(call, ui: str, run_id: str, ready: str, steps, expect: dict[str, list[str]]) -> None:
    """Open the form and perform `steps(call)`; the values read back must hold `expect`."""
    shown: object = None
    for _ in range(3):
        open_form(call, ui, run_id, ready)
        try:
            steps(call)
        except AssertionError as exc:  # a field re-rendered under the typing: type it all again
            shown = exc
            continue
        shown = values(call)
        if all(shown.get(title) == want for title, want in expect.items()):
            return
    raise AssertionError(f"表单内容未保留：{shown}")


def submit(call) -> None:
    """Press Submit: the form closes; a refusal by the UI's own check fails with its words.
    On a loaded machine a click can land while the UI is still busy and do nothing: pressed
    again every 20 s while the form stays open with no refusal shown."""
    import time

    press = (
        "[...document.querySelectorAll('[role=dialog] button')]"
        ".find(b => b.innerText.trim() === 'Submit')?.click()"
    )
    evaluate(call, press)
    pressed = [time.monotonic()]

    def closed():
        failed = evaluate(
            call,
            "[...document.querySelectorAll('[role=dialog] .p-label__message--failed')]"
            ".map(e => e.innerText).join('；')",
        )
        assert not failed, f"表单被界面拒绝：{failed}"
        if not evaluate(call, "!!document.querySelector('[role=dialog]')"):
            return True
        if time.monotonic() - pressed[0] > 20:
            evaluate(call, press)
            pressed[0] = time.monotonic()
        return False

    wait_for("the form to close", closed, timeout=300)


def screenshot(call, path: Path, *, top: bool = True) -> None:
    """The form scrolled to its top (the description) or its end (the filled fields)."""
    import base64

    evaluate(
        call,
        "(() => { const d = document.querySelector('[role=dialog] .p-modal__body') || "
        "document.querySelector('[role=dialog]'); if (!d) return; "
        f"document.activeElement?.blur(); [d, ...d.querySelectorAll('*')].forEach(e => {{ if (e.scrollHeight > e.clientHeight) "
        f"e.scrollTop = {'0' if top else 'e.scrollHeight'}; }}); }})()",
    )
    path.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
