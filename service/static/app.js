// The analyst page: one /v1/analyze call per article (all targets), then every view
// (one target highlighted, or markers for all) is drawn from that one answer.
"use strict";

const LABELS = ["favor", "against", "neutral", "none"];
const SHORT = { russia: "RU", west: "W", eu: "EU", nato: "NATO" };

const state = {
  info: null,       // GET /v1/info
  analysis: null,   // POST /v1/analyze answer
  analyzedText: "", // the text that analysis is for
  selected: null,   // selected sentence index
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const targetName = (name) => (SHORT[name] || name).toString();
const pct = (p) => `${Math.round(p * 100)}%`;
const signed = (x) => (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(2);

function setStatus(message, kind = "") {
  const status = $("status");
  status.textContent = message;
  status.className = `status ${kind}`;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const error = new Error((data && data.error) || `HTTP ${response.status}`);
    error.type = data && data.error_type;
    error.status = response.status;
    error.retryAfter = Number(response.headers.get("Retry-After") || 0);
    throw error;
  }
  return data;
}

// ---- start-up --------------------------------------------------------------------

async function loadInfo() {
  try {
    state.info = await api("/v1/info");
  } catch (error) {
    $("model-info").textContent = error.type === "not_ready" ? "model loading…" : `server: ${error.message}`;
    setTimeout(loadInfo, 1000);
    return;
  }
  const { model, targets, limits } = state.info;
  $("model-info").textContent = `${model.card || model.name} · v${model.version}`;
  $("model-info").title = `${model.name} ${model.version}\nencoder: ${model.encoder.name_or_path}`;
  const select = $("target");
  for (const target of targets) {
    select.append(el("option", { value: target.name, title: target.description, text: target.name === "eu" ? "EU" : target.name === "nato" ? "NATO" : capitalize(target.name) }));
  }
  $("article").maxLength = limits.max_article_chars;
  $("analyze").disabled = false;
  updateCount();
}

const capitalize = (s) => s.charAt(0).toUpperCase() + s.slice(1);

async function loadExample() {
  try {
    const { text } = await api("/v1/example");
    $("article").value = text;
    updateCount();
    showEditor();
  } catch (error) {
    setStatus(`Could not load the example: ${error.message}`, "error");
  }
}

function updateCount() {
  const length = $("article").value.length;
  const max = state.info ? state.info.limits.max_article_chars : null;
  $("char-count").textContent = max ? `${length.toLocaleString()} / ${max.toLocaleString()} characters` : `${length.toLocaleString()} characters`;
  $("char-count").classList.toggle("over", Boolean(max && length > max));
}

// ---- analysing -------------------------------------------------------------------

async function analyze() {
  const text = $("article").value;
  if (!text.trim()) {
    setStatus("Paste an article first.", "error");
    return;
  }
  const button = $("analyze");
  button.disabled = true;
  setStatus("Analysing…", "busy");
  const started = performance.now();
  try {
    state.analysis = await api("/v1/analyze", { text });
    state.analyzedText = text;
    state.selected = null;
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    const n = state.analysis.sentences.length;
    setStatus(`${n} sentence${n === 1 ? "" : "s"} analysed in ${seconds} s by ${state.analysis.model.name} v${state.analysis.model.version}.`);
    showReader();
    render();
  } catch (error) {
    const hint = error.status === 429 ? ` Retry in ${error.retryAfter || 1} s.` : "";
    setStatus(`${error.message}${hint}`, "error");
  } finally {
    button.disabled = false;
  }
}

function showReader() {
  $("editor").hidden = true;
  $("reader").hidden = false;
  $("edit").hidden = false;
}

function showEditor() {
  $("editor").hidden = false;
  $("reader").hidden = true;
  $("edit").hidden = true;
  $("article").focus();
}

// ---- drawing ---------------------------------------------------------------------

function render() {
  if (!state.analysis) return;
  renderDoc();
  renderSummary();
  renderFraming();
  renderDetail();
}

function chosenTarget() {
  return $("target").value;
}

function scoresTitle(sentence) {
  const lines = Object.entries(sentence.stance).map(([name, s]) =>
    `${targetName(name)}: ${s.label} (${LABELS.map((l) => `${l} ${pct(s.scores[l])}`).join(", ")})${s.scored ? "" : " [not mentioned]"}`);
  lines.push(`voice: ${sentence.voice.label} ${pct(sentence.voice.score)}`);
  return lines.join("\n");
}

function renderDoc() {
  const { sentences } = state.analysis;
  const text = state.analyzedText;
  const target = chosenTarget();
  const doc = $("doc");
  doc.replaceChildren();
  doc.classList.toggle("mode-all", target === "all");
  $("legend-mode").textContent = target === "all"
    ? `markers: ${Object.keys(state.analysis.summary).map(targetName).join(" · ")}`
    : `highlighted: stance toward ${target === "eu" || target === "nato" ? target.toUpperCase() : capitalize(target)}`;
  // The API's offsets count Unicode code points, as Python does; a JavaScript string is indexed
  // in UTF-16 units, which differ after any character outside the BMP (emoji, some scripts).
  const chars = Array.from(text);
  let cursor = 0;
  for (const sentence of sentences) {
    if (sentence.start > cursor) doc.append(chars.slice(cursor, sentence.start).join(""));
    doc.append(sentenceNode(sentence, target));
    cursor = sentence.end;
  }
  if (cursor < chars.length) doc.append(chars.slice(cursor).join(""));
}

function sentenceNode(sentence, target) {
  const reported = sentence.voice.label === "reported";
  const attrs = {
    class: "sent",
    id: `s-${sentence.index}`,
    tabindex: "0",
    title: scoresTitle(sentence),
    "data-index": sentence.index,
    "data-voice": sentence.voice.label,
    onclick: () => select(sentence.index, { reveal: true }),
    onkeydown: (event) => { if (event.key === "Enter") select(sentence.index, { reveal: true }); },
  };
  for (const [name, s] of Object.entries(sentence.stance)) attrs[`data-${name}`] = s.label;
  const node = el("span", attrs);
  if (target !== "all" && sentence.stance[target]) node.classList.add(`lbl-${sentence.stance[target].label}`);
  if (reported) node.classList.add("reported");
  if (state.selected === sentence.index) node.classList.add("selected");
  if (reported) node.append(el("span", { class: "voice-tag", title: `reported voice (${pct(sentence.voice.score)})`, text: "❝" }));
  node.append(el("span", { class: "sent-text", text: sentence.text }));
  if (sentence.windows) {
    node.append(el("span", { class: "windows-tag", title: `a long sentence, read in ${sentence.windows} overlapping windows`, text: "⧉" }));
  }
  if (target === "all") {
    const markers = Object.entries(sentence.stance)
      .filter(([, s]) => s.label !== "none")
      .map(([name, s]) => el("span", { class: `marker lbl-${s.label}`, title: `${name}: ${s.label} ${pct(s.scores[s.label])}`, text: targetName(name) }));
    if (markers.length) node.append(el("span", { class: "markers" }, markers));
  }
  return node;
}

function renderSummary() {
  const { summary } = state.analysis;
  const total = state.analysis.sentences.length;
  const chosen = chosenTarget();
  const rows = Object.entries(summary).map(([name, s]) => {
    const width = Math.min(50, Math.abs(s.score) * 50);
    const fill = el("div", { class: `bar-fill ${s.score >= 0 ? "pos" : "neg"}`, "data-score": s.score.toFixed(4) });
    fill.style.width = `${width}%`;
    fill.style.left = s.score >= 0 ? "50%" : `${50 - width}%`;
    const description = state.info ? (state.info.targets.find((t) => t.name === name) || {}).description : "";
    return el("div", { class: `summary-row${chosen === name ? " chosen" : ""}`, "data-target": name },
      el("div", { class: "summary-head" },
        el("button", { class: "target-link", type: "button", title: description || name, text: name === "eu" || name === "nato" ? name.toUpperCase() : capitalize(name), onclick: () => { $("target").value = name; render(); } }),
        el("span", { class: `score ${s.score > 0 ? "pos" : s.score < 0 ? "neg" : ""}`, text: signed(s.score) })),
      el("div", { class: "bar", role: "img", "aria-label": `${name} score ${s.score.toFixed(2)} on a scale from −1 (against) to +1 (favor)` },
        el("div", { class: "bar-mid" }), fill),
      el("div", { class: "bar-scale muted" }, el("span", { text: "against" }), el("span", { text: "favor" })),
      el("div", { class: "counts" },
        ...["favor", "against", "neutral"].map((label) => el("span", { class: `count lbl-${label}`, text: `${s.counts[label]} ${label}` })),
        el("span", { class: "muted", text: `${s.mentions} of ${total} sentences` })),
      s.evidence.length
        ? el("ol", { class: "evidence" }, s.evidence.map((e) => el("li", {},
          el("a", { href: `#s-${e.index}`, class: `evidence-link lbl-${e.label}`, "data-index": e.index, title: `${e.label} ${pct(e.score)}`, onclick: (event) => { event.preventDefault(); jumpTo(e.index, name); } },
            el("span", { class: "evidence-label", text: `${e.label} ${pct(e.score)}` }), ` ${e.text}`))))
        : el("p", { class: "muted small", text: "No favor or against sentence." }));
  });
  $("summary").replaceChildren(...rows);
}

const TASK_TITLES = { frames: "Frames", narratives: "Narratives" };
const EVIDENCE_CHARS = 160;

// Frames and narratives of the whole article: every label's probability (highest first), the
// labels given marked, and under each given label its evidence sentences as links into the text.
function renderFraming() {
  const tasks = Object.keys(TASK_TITLES).filter((task) => state.analysis[task]);
  $("framing").hidden = tasks.length === 0;
  const blocks = tasks.map((task) => {
    const result = state.analysis[task];
    const described = state.info && state.info.tasks && state.info.tasks[task] ? state.info.tasks[task] : {};
    const descriptions = Object.fromEntries((described.labels || []).map((entry) => [entry.name, entry.description]));
    const model = (state.analysis.framing_models || {})[task];
    const given = new Set(result.labels);
    const ranked = Object.entries(result.scores).sort((a, b) => b[1] - a[1]);
    const fallback = result.labels.filter((label) => !(label in result.scores));
    return el("div", { class: "task-block", "data-task": task },
      el("h3", { text: TASK_TITLES[task], title: model ? `${model.name} ${model.version}` : "" }),
      fallback.length ? el("p", { class: "fallback", "data-label": fallback[0], text: `✓ ${fallback[0]}: no label passes its threshold` }) : null,
      el("ul", { class: "task-labels" }, ranked.map(([label, score]) => {
        const fill = el("div", { class: "mini-fill" });
        fill.style.width = `${Math.round(score * 100)}%`;
        const evidence = result.evidence[label] || [];
        return el("li", { class: given.has(label) ? "task-label given" : "task-label", "data-label": label, title: descriptions[label] || label },
          el("div", { class: "task-label-head" },
            el("span", { class: "task-label-name", text: `${given.has(label) ? "✓ " : ""}${label}` }),
            el("span", { class: "task-label-score", text: pct(score) })),
          el("div", { class: "mini-bar" }, fill),
          evidence.length
            ? el("ol", { class: "evidence task-evidence" }, evidence.map((e) => el("li", {},
              el("a", { href: `#s-${e.index}`, class: "evidence-link", "data-index": e.index, onclick: (event) => { event.preventDefault(); jumpTo(e.index); } },
                e.text.length > EVIDENCE_CHARS ? `${e.text.slice(0, EVIDENCE_CHARS)}…` : e.text))))
            : null);
      })));
  });
  $("framing-body").replaceChildren(...blocks);
}

function renderDetail() {
  const section = $("detail");
  if (state.selected === null || !state.analysis) {
    section.hidden = true;
    return;
  }
  const sentence = state.analysis.sentences[state.selected];
  section.hidden = false;
  const rows = Object.entries(sentence.stance).map(([name, s]) => el("tr", {},
    el("th", { scope: "row", text: targetName(name) }),
    ...LABELS.map((label) => {
      const cell = el("td", { class: s.label === label ? "top" : "" },
        el("div", { class: `mini lbl-${label}` }), el("span", { text: pct(s.scores[label]) }));
      cell.firstChild.style.width = `${Math.round(s.scores[label] * 100)}%`;
      return cell;
    })));
  $("detail-body").replaceChildren(
    el("blockquote", { class: "detail-text", text: sentence.text }),
    el("p", { class: "muted small", text: `Sentence ${sentence.index + 1} · characters ${sentence.start}–${sentence.end}${sentence.windows ? ` · read in ${sentence.windows} windows` : ""} · voice: ${sentence.voice.label} (${pct(sentence.voice.score)})` }),
    el("table", { class: "probs" },
      el("thead", {}, el("tr", {}, el("th", {}), ...LABELS.map((l) => el("th", { scope: "col", text: l })))),
      el("tbody", {}, rows)));
}

function select(index, { reveal = false } = {}) {
  state.selected = state.selected === index ? null : index;
  for (const node of document.querySelectorAll(".sent.selected")) node.classList.remove("selected");
  if (state.selected !== null) $(`s-${index}`).classList.add("selected");
  renderDetail();
  if (reveal && state.selected !== null) scrollWithin(document.querySelector(".side-panel"), $("detail"));
}

// Scroll a panel that scrolls on its own (the doc, the sticky side panel) rather than the
// whole window, so the toolbar and the summary stay where the reader left them.
function scrollWithin(container, node, { center = false } = {}) {
  if (container.scrollHeight <= container.clientHeight) {
    node.scrollIntoView({ block: center ? "center" : "nearest", behavior: "smooth" });
    return;
  }
  const top = node.getBoundingClientRect().top - container.getBoundingClientRect().top + container.scrollTop;
  const offset = center ? container.clientHeight / 2 - node.getBoundingClientRect().height / 2 : 8;
  container.scrollTo({ top: Math.max(0, top - offset), behavior: "smooth" });
}

function jumpTo(index, target) {
  if (target && chosenTarget() !== "all" && chosenTarget() !== target) {
    $("target").value = target;
    render();
  }
  const node = $(`s-${index}`);
  if (!node) return;
  scrollWithin($("doc"), node, { center: true });
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("flash");
  state.selected = null;
  select(index);
  node.focus({ preventScroll: true });
}

// ---- wiring ----------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("analyze").addEventListener("click", analyze);
  $("edit").addEventListener("click", showEditor);
  $("example").addEventListener("click", loadExample);
  $("target").addEventListener("change", render);
  $("article").addEventListener("input", updateCount);
  $("article").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) analyze();
  });
  loadInfo();
  loadExample();
});
