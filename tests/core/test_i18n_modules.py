"""Per-module lookup: a string is translated from its own module's catalogue first, then the merged one; the
catalogues differ only where the glossary lists the difference as intended (docs/glossary.md)."""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from passage.core import i18n

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"


@pytest.fixture
def chinese() -> Iterator[None]:
    token = i18n.set_locale("zh_Hans")
    yield
    i18n._current_locale.reset(token)


def intended_differences() -> dict[str, dict[str, str]]:
    """The "Words that differ by module (intended)" table: {English: {module: Chinese}}, each row with a reason."""
    text = GLOSSARY.read_text(encoding="utf-8")
    section = text[text.index("## Words that differ by module (intended)"):]
    found: dict[str, dict[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`[^`]+`", cells[0]):
            continue
        assert cells[2], f"{cells[0]} is listed without a reason"
        found[cells[0].strip("`")] = dict(part.split(": ", 1) for part in cells[1].split("; "))
    return found


def test_a_word_is_translated_differently_only_where_the_difference_is_intended() -> None:
    intended = intended_differences()
    assert len(intended) > 10
    unlisted = []
    for msgid, by_module in sorted(i18n.catalogue_conflicts().items(), key=str):
        if not isinstance(msgid, str) or intended.get(msgid) != by_module:
            unlisted.append(f"{msgid!r}: " + "; ".join(f"{module}: {chinese}" for module, chinese in by_module.items()))
    assert unlisted == [], "translated differently in two modules and not listed (with the same translations) in docs/glossary.md:\n" + "\n".join(unlisted)


def test_the_list_of_intended_differences_names_only_real_differences() -> None:
    conflicts = i18n.catalogue_conflicts()
    assert [msgid for msgid in intended_differences() if msgid not in conflicts] == []


def test_a_module_looks_in_its_own_catalogue_first_then_in_the_merged_one(chinese: None) -> None:
    # 'From' is a place of departure in consular and a start date in the web filters; the merged catalogue has one
    assert i18n.translate("From", module="consular") == "出发地"
    assert i18n.translate("From", module="web") == "起始日期"
    assert i18n.translate("Code", module="security") == "验证码"  # security's strings live in the web catalogue
    assert i18n.translate("Code", module="consular") == "代码"
    # a word the module does not have comes from the merged catalogue (web's shared words)
    assert i18n.translate("Sign in", module="consular") == "登录"
    assert i18n.translate("From", module=None) in {"出发地", "起始日期"}


def test_the_module_of_a_source_file_or_template() -> None:
    root = Path(i18n.__file__).resolve().parents[1]
    assert i18n.module_of_file(str(root / "consular" / "templates" / "consular" / "crisis.html")) == "consular"
    assert i18n.module_of_file(str(root / "web" / "templates" / "base.html")) == "web"
    assert i18n.module_of_file(str(root / "dtm" / "views.py")) == "dtm"
    assert i18n.module_of_file("<template>") is None
    assert i18n.module_of_file(__file__) is None
    assert i18n.module_of_name("passage.consular.service") == "consular"
    assert i18n.module_of_name("tests.core.test_i18n_modules") is None


def test_plain_gettext_in_module_code_uses_that_modules_catalogue(chinese: None) -> None:
    from passage.consular import views as consular_views

    # a help request's status 'Closed' is a closed case (已结案); the audit action 'Closed' in web is 已关闭,
    # and web's catalogue wins in the merged one
    assert consular_views.label("closed") == "已结案"
    assert i18n.translate("Closed", module="web") == "已关闭"
    assert i18n.translations_for("zh_Hans").ugettext("Closed") == "已关闭"


def test_a_label_is_translated_in_the_module_that_defined_its_domain(chinese: None) -> None:
    import passage.dialogue.messages  # noqa: F401 - defines its label domains
    import passage.mobility.messages  # noqa: F401
    import passage.readmission.messages  # noqa: F401

    assert i18n.label("mobility.column", "events") == "事件"  # the merged catalogue says 活动 (Dialogue events)
    assert i18n.label("mobility.column", "date") == "日期"
    assert i18n.label("readmission.state", "accepted") == "已同意接收"  # forms' 'Accepted' rows are 已接受
    assert i18n.Label("mobility.column", "events").render() == "事件"


def test_a_message_made_in_module_code_knows_its_module(chinese: None) -> None:
    from passage.consular import rules as consular_rules
    from passage.core.errors import Conflict

    with pytest.raises(Conflict) as refused:
        consular_rules.check_request_transition("closed", "resolved")
    message = refused.value.message
    assert isinstance(message, i18n.Text) and message.module == "consular"
    assert message.as_stored()["module"] == "consular"
    assert i18n.T_("From").module is None  # called from this test, not from module code
    assert i18n.T_("From").as_stored() == {"message": "From", "params": {}}


def test_a_message_remembers_its_module_when_stored_and_when_pickled(chinese: None) -> None:
    message = i18n.Text.from_stored({"message": "From", "params": {}, "module": "consular"})
    assert message.module == "consular" and message.render() == "出发地"
    assert message.as_stored() == {"message": "From", "params": {}, "module": "consular"}
    assert pickle.loads(pickle.dumps(message)).render() == "出发地"
    nested = i18n.T_("{what}", what=message)
    assert i18n.Text.from_stored(nested.as_stored()).render() == "出发地"


def test_an_old_stored_message_without_a_module_belongs_to_the_module_reading_it(chinese: None) -> None:
    old = {"message": "From", "params": {}}
    assert i18n.Text.from_stored(old, module="consular").render() == "出发地"
    assert i18n.Text.from_stored(old, module="web").render() == "起始日期"
    assert i18n.Text.from_stored({"message": "From", "params": {}, "module": "consular"}, module="web").render() == "出发地"
