"""Hostile AI answers: rendered without error, never as links, long ones as plain text.

How long hostile inputs take to render is measured by bench/answer_bench.py, not here."""

from __future__ import annotations

from django.test import override_settings

from scans.answers import render_markdown


def test_sixteen_kilobytes_of_nested_brackets_render_as_their_text():
    html = render_markdown("[" * 8000 + "]" * 8000)
    assert html.count("[") == 8000 and html.count("]") == 8000


def test_a_deeply_nested_megabyte_is_shown_as_plain_text_not_an_error():
    html = render_markdown("> " * 500_000 + "<script>x</script>")
    assert html.startswith("<pre>")
    assert "<script>" not in html


def test_deep_nesting_below_the_size_limit_renders_without_error():
    assert render_markdown(">" * 10_000 + " deep").startswith("<blockquote>")


def test_a_persuasive_link_shows_where_it_leads_and_is_not_a_link():
    html = render_markdown('[Your clinic portal](https://evil.example/login "Official")')
    assert "href" not in html
    assert "Your clinic portal" in html
    assert "(https://evil.example/login)" in html


@override_settings(ANSWER_RENDER_MAX_BYTES=10)
def test_an_answer_over_the_limit_is_escaped_text():
    assert render_markdown("**bold** & <b>") == "<pre>**bold** &amp; &lt;b&gt;</pre>"
