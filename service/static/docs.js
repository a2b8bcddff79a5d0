// Fallback API docs: the operations in /openapi.json with their request examples.
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  const root = document.getElementById("operations");
  const spec = await (await fetch("/openapi.json")).json();
  root.replaceChildren();
  const h = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };
  root.append(h("h1", `${spec.info.title} ${spec.info.version}`), h("p", spec.info.summary || "", "muted"));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const block = h("section", null, "summary-row");
      block.append(h("h2", `${method.toUpperCase()} ${path}`), h("p", op.summary || "", "muted"));
      if (op.description) block.append(h("p", op.description, "small"));
      const content = op.requestBody && op.requestBody.content["application/json"];
      for (const [name, example] of Object.entries((content && content.examples) || {})) {
        block.append(h("p", `Example: ${example.summary || name}`, "small"));
        block.append(h("pre", JSON.stringify(example.value, null, 2).slice(0, 2000), "detail-text"));
      }
      const codes = Object.keys(op.responses || {}).join(", ");
      block.append(h("p", `Responses: ${codes}`, "small muted"));
      root.append(block);
    }
  }
});
