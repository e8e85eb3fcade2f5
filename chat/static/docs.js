// The API docs page: fetches /openapi.json and shows each route (method, path, summary,
// token, parameters, body fields, answers). Text only goes in through textContent, so
// nothing in the document can become markup; no inline script or style (the page runs
// under the client's Content-Security-Policy).

const METHODS = ["get", "post", "put", "patch", "delete"];

function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// A schema as one line of text: {"UID": integer, "Email": string | null, "UIDs"?: [integer]}.
function shape(schema) {
  if (!schema) return "";
  if ("const" in schema) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? "any"];
  return types
    .map((type) => {
      if (type === "array") return `[${shape(schema.items)}, ...]`;
      if (type !== "object") return type;
      const required = new Set(schema.required ?? []);
      const fields = Object.entries(schema.properties ?? {}).map(
        ([name, field]) => `"${name}"${required.has(name) ? "" : "?"}: ${shape(field)}`,
      );
      if (schema.additionalProperties !== false) fields.push("...");
      return `{${fields.join(", ")}}`;
    })
    .join(" | ");
}

function table(headings, rows) {
  const head = element("tr", {}, ...headings.map((text) => element("th", { text })));
  return element("table", {}, element("thead", {}, head), element("tbody", {}, ...rows));
}

function parametersOf(operation) {
  const rows = (operation.parameters ?? []).map((parameter) =>
    element(
      "tr",
      {},
      element("td", {}, element("code", { text: parameter.name })),
      element("td", { text: parameter.in }),
      element("td", { className: "shape", text: shape(parameter.schema) }),
      element("td", { text: parameter.required ? "required" : "optional" }),
    ),
  );
  return rows.length ? [element("h3", { text: "Parameters" }), table(["name", "in", "type", ""], rows)] : [];
}

function bodyOf(operation) {
  const body = operation.requestBody;
  if (!body) return [];
  const media = body.content["application/json"] ?? {};
  const schema = media.schema ?? {};
  const required = new Set(schema.required ?? []);
  const rows = Object.entries(schema.properties ?? {}).map(([name, field]) =>
    element(
      "tr",
      {},
      element("td", {}, element("code", { text: name })),
      element("td", { className: "shape", text: shape(field) }),
      element("td", { text: required.has(name) ? "required" : "optional" }),
    ),
  );
  const title = body.required ? "Body (JSON)" : "Body (JSON, optional)";
  const example = "example" in media ? [element("pre", { className: "shape", text: `Example: ${JSON.stringify(media.example)}` })] : [];
  return [element("h3", { text: title }), table(["field", "type", ""], rows), ...example];
}

function answersOf(operation) {
  const rows = Object.entries(operation.responses).map(([status, response]) => {
    const content = response.content ?? {};
    const json = content["application/json"];
    const body = json ? shape(json.schema) : Object.keys(content).join(", ") || "(empty)";
    const headers = Object.keys(response.headers ?? {});
    const meaning = response.description + (headers.length ? ` (header: ${headers.join(", ")})` : "");
    return element(
      "tr",
      {},
      element("td", { className: "status", text: status }),
      element("td", { text: meaning }),
      element("td", { className: "shape", text: body }),
    );
  });
  return [element("h3", { text: "Answers" }), table(["status", "meaning", "body"], rows)];
}

function tokenOf(operation) {
  const security = operation.security ?? [];
  if (!security.length) return [];
  const optional = security.some((requirement) => Object.keys(requirement).length === 0);
  const text = `Token: ${optional ? "optional" : "required"} (Authorization: Bearer <token>, or the bare token)`;
  return [element("p", { className: "token", text })];
}

function section(path, method, operation) {
  const id = `${method}-${path}`;
  return element(
    "section",
    { className: "operation", id, "data-method": method, "data-path": path },
    element(
      "h2",
      {},
      element("span", { className: `method ${method}`, text: method.toUpperCase() }),
      element("code", { className: "path", text: path }),
    ),
    element("p", { className: "summary", text: operation.summary ?? "" }),
    ...(operation.description ? [element("p", { className: "description", text: operation.description })] : []),
    ...tokenOf(operation),
    ...parametersOf(operation),
    ...bodyOf(operation),
    ...answersOf(operation),
  );
}

async function show() {
  const main = document.getElementById("routes");
  const index = document.querySelector("#index ul");
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
    const documentation = await response.json();
    document.getElementById("about").textContent = documentation.info?.description ?? "";
    for (const [path, item] of Object.entries(documentation.paths)) {
      for (const method of METHODS.filter((name) => name in item)) {
        const operation = section(path, method, item[method]);
        main.append(operation);
        const link = element("a", { href: `#${encodeURIComponent(operation.id)}`, text: `${method.toUpperCase()} ${path}` });
        index.append(element("li", {}, link));
      }
    }
    main.dataset.state = "ready";
  } catch (error) {
    const shown = document.getElementById("error");
    shown.textContent = `Could not show the API: ${error.message}`;
    shown.hidden = false;
    main.dataset.state = "failed";
  }
}

show();
