"""The analyst page in a real browser: headless system Chromium driven by Playwright,
against the server run by uvicorn on a loopback port. Skipped where either is missing."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from shipped_models import skip_unless_available
from stance.models import DEFAULT_MODEL_DIR
from svc_helpers import SEED_ARTICLE, settings_for, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"), reason="no system chromium at /usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not CHROMIUM.exists():
        pytest.skip("no system chromium at /usr/bin/chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn from a thread on a socket bound to a free loopback port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert app.state.service.loaded.wait(120), "the model did not load"
        assert app.state.service.load_error is None, app.state.service.load_error
        wait_until(lambda: server.started)  # the lifespan ran first; now it accepts connections
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def page_for(browser):
    """Open a page, recording console errors and every host it contacts."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.hosts = set()
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
        page.on("request", lambda request: page.hosts.add(urlparse(request.url).hostname))
        page.goto(url)
        page.wait_for_selector("#analyze:not([disabled])")
        page.wait_for_function("document.getElementById('article').value.length > 1000")
        return page

    yield open_page
    for context in contexts:
        context.close()


def analyse(page) -> None:
    page.click("#analyze")
    page.wait_for_selector("#doc .sent")
    page.wait_for_selector(".summary-row .bar-fill")


def shown_article(page) -> str:
    """The article as the page shows it: sentences and the text between them, markers aside."""
    return page.evaluate(
        "() => { const doc = document.getElementById('doc').cloneNode(true);"
        " doc.querySelectorAll('.voice-tag, .windows-tag, .markers').forEach(n => n.remove()); return doc.textContent; }"
    )


def test_the_page_analyses_the_seed_article(make_app, tiny_model, page_for):
    app = make_app()
    with live_server(app) as url:
        page = page_for(url + "/")
        seed = SEED_ARTICLE.read_text(encoding="utf-8")
        assert page.input_value("#article") == seed  # prefilled from the server
        analyse(page)
        expected = tiny_model.analyze(seed)

        sentences = page.locator("#doc .sent")
        assert sentences.count() == len(expected.sentences)
        texts = page.evaluate("() => Array.from(document.querySelectorAll('#doc .sent-text'), s => s.textContent)")
        assert texts == [s.text for s in expected.sentences]
        # the article reads as it was written: sentences plus the text between them, markers aside
        shown = shown_article(page)
        assert shown == seed
        # sentences longer than the tiny model's 64 tokens were read in windows, and say so
        long_sentences = [s.index for s in expected.sentences if s.windows > 1]
        assert long_sentences
        marked = page.evaluate("() => Array.from(document.querySelectorAll('#doc .sent'), s => s.querySelector('.windows-tag') !== null)")
        assert [i for i, mark in enumerate(marked) if mark] == long_sentences

        # one target: highlighted by its label (none unmarked), reported voices marked
        page.select_option("#target", "russia")
        for sentence in expected.sentences:
            node = page.locator(f"#s-{sentence.index}")
            label = sentence.stance["russia"].label
            classes = node.get_attribute("class").split()
            assert node.get_attribute("data-russia") == label
            assert (f"lbl-{label}" in classes) == (label != "none")
            assert not any(c.startswith("lbl-") for c in classes) or label != "none"
            assert ("reported" in classes) == (sentence.voice.label == "reported")
        colours = page.evaluate(
            "() => Object.fromEntries(['favor','against','neutral'].map(l => {"
            " const s = document.querySelector('#doc .sent.lbl-' + l); return [l, s ? getComputedStyle(s).backgroundColor : null]; }))"
        )
        present = [c for c in colours.values() if c]
        assert present and len(set(present)) == len(present)  # each label has its own colour

        # all four: a small marker per target whose label is not none
        page.select_option("#target", "all")
        markers = sum(1 for s in expected.sentences for r in s.stance.values() if r.label != "none")
        assert page.locator("#doc .marker").count() == markers
        assert page.locator("#doc .sent.lbl-against, #doc .sent.lbl-favor").count() == 0

        # summary bars: one per target, width proportional to |score|
        rows = page.locator(".summary-row")
        assert rows.count() == 4
        for name, summary in expected.summary.items():
            fill = page.locator(f".summary-row[data-target='{name}'] .bar-fill")
            assert fill.is_visible()
            width = float(fill.evaluate("el => el.style.width").rstrip("%"))
            assert width == pytest.approx(min(50.0, abs(summary.score) * 50), abs=0.01)
            assert ("neg" in fill.get_attribute("class").split()) == (summary.score < 0)

        # evidence links scroll to and select their sentence
        links = page.locator(".evidence-link")
        evidence = [e for s in expected.summary.values() for e in s.evidence]
        assert links.count() == len(evidence)
        if evidence:
            first = links.first
            index = first.get_attribute("data-index")
            first.click()
            target = page.locator(f"#s-{index}")
            page.wait_for_function(f"document.getElementById('s-{index}').classList.contains('selected')")
            assert target.is_visible() and page.locator("#detail").is_visible()
            assert page.locator("#detail .probs tbody tr").count() >= 1

        # clicking a sentence shows its probabilities
        page.click("#s-0")
        assert page.locator("#detail .detail-text").inner_text() == expected.sentences[0].text
        assert page.errors == []
        assert page.hosts == {"127.0.0.1"}  # nothing but the server itself, no CDN


def test_the_page_shows_server_errors(make_app, page_for):
    app = make_app(max_article_chars=100_000)
    with live_server(app) as url:
        page = page_for(url + "/")
        page.fill("#article", "   ")
        page.click("#analyze")
        assert "Paste an article" in page.inner_text("#status")
        page.fill("#article", "NATO. " * 10)
        page.select_option("#target", "nato")
        analyse(page)
        assert page.locator("#doc .sent").count() == 10
        page.click("#edit")
        assert page.locator("#article").is_visible()


@skip_unless_available("default")
def test_the_default_model_marks_never_join_nato_as_against(page_for):
    from stance.service.app import create_app

    app = create_app(settings_for(DEFAULT_MODEL_DIR))
    with live_server(app) as url:
        page = page_for(url + "/")
        analyse(page)
        page.select_option("#target", "nato")
        sentence = page.locator("#doc .sent", has_text="Serbia will never join NATO")
        assert sentence.count() == 1
        assert sentence.get_attribute("data-nato") == "against"
        assert "lbl-against" in sentence.get_attribute("class").split()


def test_the_page_keeps_articles_with_emoji_intact(make_app, tiny_model, page_for):
    """Offsets count code points (the API's unit); the page must not slice UTF-16 units."""
    article = "🇷🇸 Serbia 🎉 will never join NATO. 😀 Moscow 𝔘 praised the decision.\n\n👍 Brussels said nothing. The end 🏁"
    with live_server(make_app()) as url:
        page = page_for(url + "/")
        page.fill("#article", article)
        analyse(page)
        expected = tiny_model.analyze(article)
        texts = page.evaluate("() => Array.from(document.querySelectorAll('#doc .sent-text'), s => s.textContent)")
        assert texts == [s.text for s in expected.sentences]
        shown = shown_article(page)
        assert shown == article
        assert page.errors == []


def test_the_page_shows_frames_and_narratives_with_their_evidence(make_app, tiny_framing_dirs, page_for):
    from stance.models.framing import ArticleReader

    app = make_app(frames_model_dir=str(tiny_framing_dirs["frames"]), narratives_model_dir=str(tiny_framing_dirs["narratives"]), runtime="torch")
    with live_server(app) as url:
        page = page_for(url + "/")
        analyse(page)
        page.wait_for_selector("#framing .task-block")
        (expected,) = ArticleReader.load(tiny_framing_dirs.values()).analyze_many([SEED_ARTICLE.read_text(encoding="utf-8")])
        for task, result in expected.items():
            block = page.locator(f"#framing .task-block[data-task='{task}']")
            shown = block.locator(".task-label").evaluate_all(
                "nodes => nodes.map(n => [n.dataset.label, n.classList.contains('given'), n.querySelector('.task-label-score').textContent])"
            )
            ranked = sorted(result.scores.items(), key=lambda item: -item[1])
            assert [label for label, _, _ in shown] == [label for label, _ in ranked]  # every label, most probable first
            assert [label for label, given, _ in shown if given] == [label for label, _ in ranked if label in result.labels]
            assert [score for _, _, score in shown] == [f"{round(p * 100)}%" for _, p in ranked]
            fallback = block.locator(".fallback")
            assert fallback.count() == (1 if result.labels == ["Other"] else 0)
            assert block.locator(".evidence-link").count() == sum(len(indices) for indices in result.evidence.values())
        links = page.locator("#framing .evidence-link")
        assert links.count() > 0
        index = links.first.get_attribute("data-index")
        links.first.click()
        page.wait_for_function(f"document.getElementById('s-{index}').classList.contains('selected')")
        assert page.errors == []
