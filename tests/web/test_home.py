"""The home page's greeting is one translated sentence, its parts escaped, in English and Chinese."""

from __future__ import annotations

from typing import Any

from tests.security.test_views import HTML, sign_in


def test_greeting_is_one_sentence_in_each_language(app_client: Any) -> None:
    sign_in(app_client, "fj.officer")
    english = app_client.get("/", headers=HTML)
    assert english.status_code == 200
    assert 'Signed in as <strong translate="no">Lin Hui 林慧</strong> (' in english.text
    assert "). Roles: <span class=\"tag\">" in english.text
    app_client.post("/language", data={"lang": "zh_Hans", "next": "/"}, follow_redirects=False)
    chinese = app_client.get("/", headers=HTML)
    assert chinese.status_code == 200
    # Chinese punctuation around the placeholders, not the English '(…). Roles:' assembled from fragments
    assert '当前用户：<strong translate="no">Lin Hui 林慧</strong>（' in chinese.text
    assert "）。角色：<span class=\"tag\">" in chinese.text
    assert "). " not in chinese.text.split("当前用户", 1)[1].split("</p>", 1)[0]
