// The template builder: the document (details, inputs, steps) lives here until it is saved
// through the templates API, which checks it whole. The page states the API's rules from the
// data the server derives from them (#builder-data: each operation's fields, limits and prices,
// what a reference may feed); it keeps none of its own. A 400's details are shown next to the
// input, step and field they name, and listed on top.
//
// Steps refer to earlier results as {{steps.<n>.output}}. Here such a reference holds the
// step's identity instead ({{steps.@<uid>.output}}), so moving steps never points one at the
// wrong step: numbers are written back when the document is sent.

import { ApiError, explain, get, patch, post } from "./api.js";
import { clearErrors, showErrors } from "./forms.js";
import { confirmDialog, icon, toast } from "./ui.js";

const STEP_NUMBER_REF = /\{\{\s*steps\.(\d{1,3})\.output\s*\}\}/g;
const STEP_UID_REF = /\{\{steps\.@([a-z0-9]+)\.output\}\}/g;
const WHOLE_REF = /^\s*\{\{\s*([^{}]*?)\s*\}\}\s*$/;
const INPUT_REF = /\{\{\s*inputs\.([a-z][a-z0-9_]*)\s*\}\}/g;

// --- Small helpers ------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function glyph(name, cls = "icon") {
  const holder = document.createElement("span");
  holder.innerHTML = icon(name, cls);
  return holder.firstElementChild;
}

function mapStrings(value, fn) {
  if (typeof value === "string") return fn(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, fn));
  return value;
}

function numberOrText(text) {
  if (text.trim() === "") return null;
  const value = Number(text);
  return Number.isNaN(value) ? text : value; // the API names the mistake
}

const asText = (value) => (Array.isArray(value) ? value.map(asText).join(" ") : typeof value === "object" && value ? Object.values(value).map(asText).join(" ") : String(value));

// --- Duplicating a template (export, then import): also for other pages ----------------------

/** A copy of a template you can see, as a new private template of yours; its id. */
export async function duplicate(exportUrl, importUrl) {
  const document_ = await get(exportUrl);
  const created = await post(importUrl, document_);
  return created.id;
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-duplicate]");
  if (!button || button.disabled) return;
  event.preventDefault();
  button.disabled = true;
  try {
    const id = await duplicate(button.dataset.exportUrl, button.dataset.importUrl);
    window.location.assign(button.dataset.editUrl.replace("__id__", encodeURIComponent(id)));
  } catch (error) {
    toast(explain(error), "error");
    button.disabled = false;
  }
});

const root = document.getElementById("builder");
if (root) builder(root);

function builder(root) {
  const data = JSON.parse(document.getElementById("builder-data").textContent);
  const OPS = Object.fromEntries(data.operations.map((op) => [op.name, op]));
  const RULES = data.rules;
  const TYPE_LABELS = Object.fromEntries(RULES.inputTypes.map((t) => [t.value, t.label]));
  const url = (name, id) => data.urls[name].replace(data.placeholder, encodeURIComponent(id || ""));

  const form = document.getElementById("builder-form");
  const inputsList = root.querySelector("[data-inputs]");
  const stepsList = root.querySelector("[data-steps]");
  const picker = document.getElementById("step-picker");
  const saveButton = root.querySelector("[data-save]");
  const saveState = root.querySelector("[data-save-state]");
  const summaryBox = document.getElementById("builder-summary");
  const summary = root.querySelector("[data-summary]");
  const announcer = root.querySelector("[data-announce]");

  let template = data.template;
  let seq = 0;
  const newUid = (prefix) => `${prefix}${(++seq).toString(36)}`;
  const state = { name: "", description: "", tags: "", visibility: "private", inputs: [], steps: [] };
  let problems = []; // {scope: meta|inputs|steps|general, uid, field, messages}
  let summaryTitle = "";
  let dirty = false;
  const openMore = new Set(); // steps whose "More settings" are open

  // --- The document in and out ----------------------------------------------------------

  function load(document_) {
    state.name = document_.name || "";
    state.description = document_.description || "";
    state.tags = (document_.tags || []).join(", ");
    state.visibility = document_.visibility || "private";
    state.inputs = (document_.inputs || []).map((item) => ({
      uid: newUid("i"),
      name: item.name ?? "",
      label: item.label ?? "",
      type: item.type ?? "text",
      required: Boolean(item.required),
      default: item.default ?? null,
      help: item.help ?? "",
      options: Array.isArray(item.options) ? [...item.options] : [],
      min: item.min ?? null,
      max: item.max ?? null,
      step: item.step ?? null,
      committed: item.name ?? "",
    }));
    state.steps = (document_.steps || []).map((step) => ({
      uid: newUid("s"),
      operation: step.operation,
      name: step.name || "",
      params: { ...(step.params || {}) },
    }));
    const uids = state.steps.map((s) => s.uid);
    for (const step of state.steps) {
      for (const key of Object.keys(step.params)) step.params[key] = mapStrings(step.params[key], (text) => toUids(text, uids));
      const op = OPS[step.operation];
      if (op && op.fields.some((f) => !f.required && step.params[f.name] !== undefined)) openMore.add(step.uid);
    }
  }

  function toUids(text, uids = state.steps.map((s) => s.uid)) {
    return text.replace(STEP_NUMBER_REF, (match, n) => (uids[Number(n) - 1] ? `{{steps.@${uids[Number(n) - 1]}.output}}` : match));
  }

  function toNumbers(text, onMissing) {
    return text.replace(STEP_UID_REF, (match, uid) => {
      const index = state.steps.findIndex((s) => s.uid === uid);
      if (index < 0) {
        onMissing?.();
        return match;
      }
      return `{{steps.${index + 1}.output}}`;
    });
  }

  /** The document as the API takes it, and the references that point at deleted steps. */
  function documentBody() {
    const broken = [];
    const steps = state.steps.map((step) => {
      const params = {};
      for (const [key, value] of Object.entries(step.params)) {
        if (value === undefined) continue;
        params[key] = mapStrings(value, (text) => toNumbers(text, () => broken.push({ uid: step.uid, field: key })));
      }
      return { operation: step.operation, name: step.name.trim(), params };
    });
    const inputs = state.inputs.map(({ uid, committed, ...definition }) => definition);
    const tags = state.tags.split(",").map((t) => t.trim()).filter(Boolean);
    return {
      document: { name: state.name, description: state.description, tags, visibility: state.visibility, inputs, steps },
      broken,
    };
  }

  // --- What may feed what -------------------------------------------------------------------

  function parseRef(value) {
    if (typeof value !== "string") return null;
    const whole = value.match(WHOLE_REF);
    if (!whole) return null;
    const inner = whole[1];
    let m = inner.match(/^inputs\.([a-z][a-z0-9_]*)$/);
    if (m) return { kind: "input", name: m[1], key: `input:${m[1]}` };
    m = inner.match(/^steps\.@([a-z0-9]+)\.output$/);
    if (m) return { kind: "step", uid: m[1], key: `step:${m[1]}` };
    m = inner.match(/^steps\.(\d+)\.output$/);
    if (m) return { kind: "number", n: Number(m[1]), key: `number:${m[1]}` };
    return { kind: "other", key: "other" };
  }

  const inputTitle = (item) => item.label || item.name || "Untitled input";
  const stepTitle = (step) => step.name || OPS[step.operation]?.label || step.operation;

  /** Inputs and earlier steps whose value a parameter of this kind accepts. */
  function sources(kind, index) {
    const accepts = new Set(RULES.accepts[kind] || []);
    const inputs = state.inputs
      .filter((item) => item.name && accepts.has(RULES.inputProduces[item.type]))
      .map((item) => ({ key: `input:${item.name}`, token: `{{inputs.${item.name}}}`, label: `Input · ${inputTitle(item)}`, group: "inputs" }));
    const steps = state.steps
      .slice(0, index)
      .map((step, k) => ({ step, k }))
      .filter(({ step }) => OPS[step.operation] && accepts.has(OPS[step.operation].produces))
      .map(({ step, k }) => ({ key: `step:${step.uid}`, token: `{{steps.@${step.uid}.output}}`, label: `Step ${k + 1} · ${stepTitle(step)}`, group: "steps" }));
    return [...inputs, ...steps];
  }

  /** Why a whole reference cannot be used here ("" when it can). */
  function refProblem(ref, field, index) {
    if (ref.kind === "input") {
      const item = state.inputs.find((i) => i.name === ref.name);
      if (!item) return `There is no input called “${ref.name}” any more: choose another source.`;
      const produces = RULES.inputProduces[item.type];
      if (!(RULES.accepts[field.kind] || []).includes(produces)) return `“${inputTitle(item)}” is ${RULES.described[produces]}; this needs ${RULES.described[field.kind] || field.kind}.`;
      return "";
    }
    if (ref.kind === "step") {
      const at = state.steps.findIndex((s) => s.uid === ref.uid);
      if (at < 0) return "The step this used was deleted: choose another source.";
      if (at >= index) return `Step ${at + 1} is not above this step any more: choose another source.`;
      const produces = OPS[state.steps[at].operation]?.produces;
      if (!(RULES.accepts[field.kind] || []).includes(produces)) return `Step ${at + 1} makes ${RULES.described[produces]}; this needs ${RULES.described[field.kind] || field.kind}.`;
      return "";
    }
    if (ref.kind === "number") return `There is no step ${ref.n}: choose another source.`;
    return "";
  }

  function refLabel(ref) {
    if (ref.kind === "input") {
      const item = state.inputs.find((i) => i.name === ref.name);
      return item ? `Input · ${inputTitle(item)}` : `Input · ${ref.name} (deleted)`;
    }
    if (ref.kind === "step") {
      const at = state.steps.findIndex((s) => s.uid === ref.uid);
      return at < 0 ? "A deleted step" : `Step ${at + 1} · ${stepTitle(state.steps[at])}`;
    }
    if (ref.kind === "number") return `Step ${ref.n} (missing)`;
    return "Something unknown";
  }

  function usedBy(predicate) {
    const users = [];
    state.steps.forEach((step, index) => {
      const text = JSON.stringify(Object.values(step.params));
      if (predicate(text)) users.push(index + 1);
    });
    return users;
  }

  // --- Prices -------------------------------------------------------------------------------

  function stepPrice(step) {
    const op = OPS[step.operation];
    if (!op) return null;
    const { price } = op;
    let rows = Object.entries(price.table);
    price.fields.forEach((name, position) => {
      const field = op.fields.find((f) => f.name === name);
      const value = step.params[name] === undefined ? field?.default : step.params[name];
      if (typeof value === "string" && value.includes("{{")) return; // a reference: any of them
      rows = rows.filter(([key]) => key.split("|")[position] === String(value));
    });
    const costs = rows.map(([, cost]) => cost);
    return costs.length ? [Math.min(...costs), Math.max(...costs)] : null;
  }

  const priceText = (range) => (!range ? "price unknown" : range[0] === range[1] ? `${range[0]} cr` : `${range[0]}–${range[1]} cr`);

  function updatePrices() {
    let low = 0;
    let high = 0;
    let unknown = false;
    state.steps.forEach((step) => {
      const range = stepPrice(step);
      const tag = stepsList.querySelector(`[data-uid="${step.uid}"] [data-price]`);
      if (tag) tag.textContent = priceText(range);
      if (!range) unknown = true;
      else {
        low += range[0];
        high += range[1];
      }
    });
    const total = root.querySelector("[data-total]");
    const words = low === high ? `${low} credit${low === 1 ? "" : "s"}` : `${low}–${high} credits`;
    total.textContent = unknown ? `${words} + ?` : words;
  }

  // --- Controls -----------------------------------------------------------------------------

  function fieldBox({ id, label, control, hint, errorKey, extra, cls = "field", labelFor = id }) {
    const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
    const error = h("div", { class: "field-error", id: `${id}-error`, "data-error-for": errorKey });
    const describedBy = [hintEl && hintEl.id, error.id].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") || ""} ${describedBy}`.trim());
    return h("div", { class: cls }, h("div", { class: "label-row" }, h("label", { for: labelFor }, label), extra), control, hintEl, error);
  }

  function iconButton(name, label, onclick, { disabled = false, action = "", cls = "" } = {}) {
    return h("button", { type: "button", class: `btn btn-ghost btn-icon btn-sm ${cls}`, "aria-label": label, title: label, disabled, "data-do": action, onclick }, glyph(name, "icon icon-sm"));
  }

  function cardActions(kind, index, count, uid) {
    const what = kind === "inputs" ? "input" : "step";
    const move = kind === "inputs" ? moveInput : moveStep;
    const remove = kind === "inputs" ? deleteInput : deleteStep;
    return h(
      "div",
      { class: "card-actions" },
      iconButton("chevron-left", `Move ${what} ${index + 1} up`, () => move(index, index - 1, "up"), { disabled: index === 0, action: "up", cls: "turn-up" }),
      iconButton("chevron-left", `Move ${what} ${index + 1} down`, () => move(index, index + 1, "down"), { disabled: index === count - 1, action: "down", cls: "turn-down" }),
      iconButton("trash-2", `Delete ${what} ${index + 1}`, () => remove(uid), { action: "delete", cls: "danger" }),
    );
  }

  const handle = () => h("span", { class: "drag-handle", "data-drag-handle": true, title: "Drag to reorder", "aria-hidden": "true" }, glyph("menu", "icon icon-sm"));

  // --- Inputs ------------------------------------------------------------------------------

  function renderInputs() {
    inputsList.replaceChildren(...state.inputs.map((item, index) => inputCard(item, index)));
    root.querySelector("[data-inputs-count]").textContent = String(state.inputs.length);
    root.querySelector("[data-inputs-empty]").hidden = state.inputs.length > 0;
    root.querySelector("[data-add-input]").disabled = state.inputs.length >= RULES.maxInputs;
  }

  function inputCard(item, index) {
    const n = index + 1;
    const key = (f) => `inputs.${n}.${f}`;
    const id = (f) => `in-${item.uid}-${f}`;
    const title = h("span", { class: "card-item-title truncate" }, inputTitle(item));
    const typeBadge = h("span", { class: "badge" }, TYPE_LABELS[item.type] || item.type);
    const token = h("code", { class: "token" }, `{{inputs.${item.name}}}`);

    const name = h("input", { class: "input mono-input", id: id("name"), name: key("name"), value: item.name, maxlength: RULES.lengths.inputName, autocomplete: "off", spellcheck: "false", autocapitalize: "off" });
    name.addEventListener("input", () => {
      item.name = name.value;
      title.textContent = inputTitle(item);
      token.textContent = `{{inputs.${item.name}}}`;
    });
    name.addEventListener("change", () => renameInput(item));

    const type = h("select", { class: "select", id: id("type"), name: key("type") }, RULES.inputTypes.map((t) => h("option", { value: t.value, selected: t.value === item.type }, t.label)));
    type.addEventListener("change", () => {
      Object.assign(item, { type: type.value, default: null, options: [], min: null, max: null, step: null });
      renderInputs();
      renderSteps();
      focusLater(`#${id("type")}`);
    });

    const label = h("input", { class: "input", id: id("label"), name: key("label"), value: item.label, maxlength: RULES.lengths.label, placeholder: "What people see" });
    label.addEventListener("input", () => {
      item.label = label.value;
      title.textContent = inputTitle(item);
    });
    label.addEventListener("change", () => renderSteps());
    const help = h("input", { class: "input", id: id("help"), name: key("help"), value: item.help, maxlength: RULES.lengths.help, placeholder: "A hint under the field" });
    help.addEventListener("input", () => { item.help = help.value; });

    const required = h("input", { type: "checkbox", id: id("required"), name: key("required"), checked: item.required });
    required.addEventListener("change", () => { item.required = required.checked; });

    return h(
      "li",
      { class: "card-item input-card", "data-uid": item.uid, "aria-label": `Input ${n}: ${inputTitle(item)}` },
      h("div", { class: "card-item-head" }, handle(), h("span", { class: "item-number" }, n), h("div", { class: "grow head-text" }, title, typeBadge), cardActions("inputs", index, state.inputs.length, item.uid)),
      h(
        "div",
        { class: "card-item-body" },
        h("div", { class: "field-row name-type" },
          fieldBox({ id: id("name"), label: "Name", control: name, errorKey: key("name"), hint: h("span", {}, "Steps use it as ", token) }),
          fieldBox({ id: id("type"), label: "Type", control: type, errorKey: key("type") })),
        fieldBox({ id: id("label"), label: "Label", control: label, errorKey: key("label") }),
        typeFields(item, key, id),
        fieldBox({ id: id("help"), label: "Help text", control: help, errorKey: key("help") }),
        h("div", { class: "field" }, h("label", { class: "check" }, required, "Required"), h("div", { class: "field-error", id: `${id("required")}-error`, "data-error-for": key("required") })),
        h("div", { class: "field-error", id: `${id("card")}-error`, "data-error-for": `inputs.${n}` }),
      ),
    );
  }

  function typeFields(item, key, id) {
    const box = h("div", { class: "type-fields" });
    const t = item.type;
    if (t === "text" || t === "long_text") {
      const control = t === "text"
        ? h("input", { class: "input", value: item.default ?? "", maxlength: RULES.textLimit[t] })
        : h("textarea", { class: "textarea", rows: 3, maxlength: RULES.textLimit[t] }, item.default ?? "");
      Object.assign(control, { id: id("default"), name: key("default") });
      control.addEventListener("input", () => { item.default = control.value === "" ? null : control.value; });
      box.append(fieldBox({ id: id("default"), label: "Default", control, errorKey: key("default"), hint: `Up to ${RULES.textLimit[t]} characters.` }));
    } else if (t === "number" || t === "seed") {
      const control = h("input", { class: "input", type: "number", id: id("default"), name: key("default"), value: item.default ?? "", step: t === "seed" ? 1 : item.step ?? "any", min: t === "seed" ? 0 : item.min ?? null, max: t === "seed" ? RULES.seedMax : item.max ?? null });
      control.addEventListener("input", () => { item.default = numberOrText(control.value); });
      box.append(fieldBox({ id: id("default"), label: "Default", control, errorKey: key("default"), hint: t === "seed" ? `0 to ${RULES.seedMax}. Empty: a new random seed for every run.` : null }));
      if (t === "number") {
        const limit = (prop, label) => {
          const c = h("input", { class: "input", type: "number", step: "any", id: id(prop), name: key(prop), value: item[prop] ?? "" });
          c.addEventListener("input", () => { item[prop] = numberOrText(c.value); });
          return fieldBox({ id: id(prop), label, control: c, errorKey: key(prop) });
        };
        box.append(h("div", { class: "field-row three" }, limit("min", "Min"), limit("max", "Max"), limit("step", "Step")));
      }
    } else if (t === "choice") {
      const options = h("textarea", { class: "textarea options", rows: 3, id: id("options"), name: key("options"), spellcheck: "false" }, item.options.join("\n"));
      const fallback = h("select", { class: "select", id: id("default"), name: key("default") });
      const fill = () => {
        fallback.replaceChildren(h("option", { value: "" }, "No default"), ...item.options.map((o) => h("option", { value: o, selected: o === item.default }, o)));
      };
      fill();
      options.addEventListener("input", () => {
        item.options = options.value.split("\n").map((o) => o.trim()).filter(Boolean);
        if (!item.options.includes(item.default)) item.default = null;
        fill();
      });
      fallback.addEventListener("change", () => { item.default = fallback.value === "" ? null : fallback.value; });
      box.append(
        fieldBox({ id: id("options"), label: "Options", control: options, errorKey: key("options"), hint: `One per line, up to ${RULES.maxOptions}.` }),
        fieldBox({ id: id("default"), label: "Default", control: fallback, errorKey: key("default") }),
      );
    } else if (t === "boolean") {
      const control = h("select", { class: "select", id: id("default"), name: key("default") },
        h("option", { value: "" }, "No default"),
        h("option", { value: "true", selected: item.default === true }, "Yes"),
        h("option", { value: "false", selected: item.default === false }, "No"));
      control.addEventListener("change", () => { item.default = control.value === "" ? null : control.value === "true"; });
      box.append(fieldBox({ id: id("default"), label: "Default", control, errorKey: key("default") }));
    } else if (t === "image") {
      box.append(h("p", { class: "hint mb-0" }, "People pick one of their own images when they run it; an image input has no default."),
        h("div", { class: "field-error", id: `${id("default")}-error`, "data-error-for": key("default") }));
    }
    return box;
  }

  function addInput() {
    const type = root.querySelector("[data-new-input-type]").value;
    const taken = new Set(state.inputs.map((i) => i.name));
    let k = state.inputs.length + 1;
    while (taken.has(`${type}_${k}`)) k += 1;
    const item = { uid: newUid("i"), name: `${type}_${k}`, label: "", type, required: false, default: null, help: "", options: [], min: null, max: null, step: null };
    item.committed = item.name;
    state.inputs.push(item);
    changed();
    renderInputs();
    renderSteps();
    announce(`Input ${state.inputs.length} added.`);
    focusLater(`#in-${item.uid}-name`);
  }

  function renameInput(item) {
    const before = item.committed;
    const after = item.name.trim();
    item.name = after;
    if (before && after && before !== after) {
      const pattern = new RegExp(`\\{\\{\\s*inputs\\.${before}\\s*\\}\\}`, "g");
      for (const step of state.steps) {
        for (const key of Object.keys(step.params)) step.params[key] = mapStrings(step.params[key], (text) => text.replace(pattern, `{{inputs.${after}}}`));
      }
    }
    item.committed = after;
    renderSteps();
  }

  function moveInput(from, to, direction) {
    if (to < 0 || to >= state.inputs.length || from === to) return;
    const [item] = state.inputs.splice(from, 1);
    state.inputs.splice(to, 0, item);
    changed();
    renderInputs();
    renderSteps();
    applyErrors();
    announce(`Input “${inputTitle(item)}” moved to position ${to + 1} of ${state.inputs.length}.`);
    if (direction) focusMoved(inputsList, item.uid, direction);
  }

  async function deleteInput(uid) {
    const index = state.inputs.findIndex((i) => i.uid === uid);
    const item = state.inputs[index];
    const users = item.name ? usedBy((text) => new RegExp(`\\{\\{\\s*inputs\\.${item.name}\\s*\\}\\}`).test(text)) : [];
    if (users.length) {
      const ok = await confirmDialog({
        title: `Delete input “${inputTitle(item)}”?`,
        body: `Step${users.length > 1 ? "s" : ""} ${users.join(", ")} use${users.length > 1 ? "" : "s"} it; they will show what to fix.`,
        confirm: "Delete input",
        danger: true,
      });
      if (!ok) return;
    }
    state.inputs.splice(index, 1);
    changed();
    renderInputs();
    renderSteps();
    applyErrors();
    announce(`Input “${inputTitle(item)}” deleted.`);
    const next = inputsList.querySelectorAll("li")[Math.min(index, state.inputs.length - 1)];
    (next?.querySelector('[data-do="delete"]') || root.querySelector("[data-add-input]")).focus();
  }

  // --- Steps -------------------------------------------------------------------------------

  function renderSteps() {
    stepsList.replaceChildren(...state.steps.map((step, index) => stepCard(step, index)));
    root.querySelector("[data-steps-count]").textContent = String(state.steps.length);
    root.querySelector("[data-steps-empty]").hidden = state.steps.length > 0;
    root.querySelector("[data-add-step]").disabled = state.steps.length >= RULES.maxSteps;
    updatePrices();
  }

  function stepCard(step, index) {
    const n = index + 1;
    const op = OPS[step.operation];
    const id = (f) => `st-${step.uid}-${f}`;
    const opLabel = op ? op.label : `Unknown operation “${step.operation}”`;
    const title = h("h3", { class: "card-item-title" }, step.name.trim() || opLabel);
    const named = h("span", { hidden: !step.name.trim() }, `${opLabel} · `);
    const name = h("input", { class: "input", id: id("name"), name: `steps.${n}.name`, value: step.name, maxlength: RULES.lengths.stepName, placeholder: op ? op.label : "", autocomplete: "off" });
    name.addEventListener("input", () => {
      step.name = name.value;
      title.textContent = step.name.trim() || opLabel;
      named.hidden = !step.name.trim();
    });
    name.addEventListener("change", () => refreshSources(step.uid));

    const fields = op ? op.fields : [];
    const main = fields.filter((f) => f.required);
    const more = fields.filter((f) => !f.required);
    const body = h("div", { class: "card-item-body" }, fieldBox({ id: id("name"), label: "Step name", control: name, errorKey: `steps.${n}.name`, hint: "Optional: what people see while it runs." }));
    body.append(...main.map((f) => paramRow(step, index, f)));
    if (more.length) {
      const details = h("details", { class: "more", open: openMore.has(step.uid), "data-more-for": step.uid },
        h("summary", {}, glyph("sliders-horizontal", "icon icon-sm"), "More settings", h("span", { class: "muted small", "data-more-count": true }, moreCount(step, more))),
        h("div", { class: "more-grid" }, more.map((f) => paramRow(step, index, f))));
      details.addEventListener("toggle", () => {
        if (details.open) openMore.add(step.uid);
        else openMore.delete(step.uid);
        // "toggle" fires a task after the click: if the step was drawn again in between, the
        // new drawing was made with the old state; give it the one the person chose.
        if (!details.isConnected) {
          const now = root.querySelector(`details.more[data-more-for="${CSS.escape(String(step.uid))}"]`);
          if (now) now.open = details.open;
        }
      });
      body.append(details);
    }
    const known = new Set(fields.map((f) => f.name));
    for (const key of Object.keys(step.params)) {
      if (known.has(key) || step.params[key] === undefined) continue;
      body.append(h("div", { class: "field unknown-param" },
        h("div", { class: "row-between" }, h("span", { class: "label" }, `Parameter “${key}”`),
          h("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => { delete step.params[key]; changed(); renderSteps(); applyErrors(); } }, "Remove")),
        h("code", { class: "mono small break" }, JSON.stringify(step.params[key])),
        h("div", { class: "field-error", id: `${id(`x-${key}`)}-error`, "data-error-for": `steps.${n}.${key}` })));
    }
    body.append(h("div", { class: "field-error", id: `${id("card")}-error`, "data-error-for": `steps.${n}` }));

    const meta = h("span", { class: "card-item-meta" },
      named, op ? `makes ${op.producesText} · ` : "", h("span", { class: "num", "data-price": true }, priceText(stepPrice(step))));
    return h(
      "li",
      { class: "card-item step-card", "data-uid": step.uid, "aria-label": `Step ${n}: ${stepTitle(step)}` },
      h("div", { class: "card-item-head" },
        handle(),
        h("span", { class: "item-number" }, n),
        h("span", { class: "step-icon" }, glyph(op?.icon || "triangle-alert", "icon icon-sm")),
        h("div", { class: "grow head-text" }, title, meta),
        cardActions("steps", index, state.steps.length, step.uid)),
      body,
    );
  }

  function moreCount(step, more = (OPS[step.operation]?.fields || []).filter((f) => !f.required)) {
    const set = more.filter((f) => step.params[f.name] !== undefined).length;
    return set ? `· ${set} of ${more.length} set` : `· ${more.length}`;
  }

  /** One parameter: a value, or a reference picked from what fits; text takes references
   * inserted into its words. */
  function paramRow(step, index, field) {
    const n = index + 1;
    const key = `steps.${n}.${field.name}`;
    const id = `st-${step.uid}-${field.name}`;
    const value = step.params[field.name];
    const hint = fieldHint(field);
    const set = (v) => {
      if (v === undefined) delete step.params[field.name];
      else step.params[field.name] = v;
      changed();
      updatePrices();
      const count = stepsList.querySelector(`[data-uid="${step.uid}"] [data-more-count]`);
      if (count) count.textContent = moreCount(step);
    };
    const rerender = () => {
      const row = document.getElementById(`${id}-row`);
      row.replaceWith(paramRow(step, index, field));
      applyErrors();
    };
    let row;
    if (field.kind === "image" || field.kind === "style") row = field.list ? refListRow(step, index, field, key, id, set, rerender) : refRow(step, index, field, key, id, value, set, rerender, hint);
    else if (field.control === "text") row = textRow(step, index, field, key, id, value, set, hint);
    else row = valueRow(step, index, field, key, id, value, set, rerender, hint);
    row.id = `${id}-row`;
    row.classList.add("param");
    return row;
  }

  function fieldHint(field) {
    const parts = [];
    if (field.min !== undefined && field.max !== undefined) parts.push(`${field.min}–${field.max}`);
    else if (field.min !== undefined) parts.push(`at least ${field.min}`);
    else if (field.max !== undefined) parts.push(`at most ${field.max}`);
    if (field.control === "text" && field.maxLength) parts.push(`up to ${field.maxLength} characters`);
    if (field.default !== null && field.default !== undefined && field.default !== "" && field.control !== "choice") parts.push(`default ${field.default}`);
    const words = parts.join(" · ");
    return [words && words[0].toUpperCase() + words.slice(1), field.help].filter(Boolean).join(". ");
  }

  function warning(text) {
    return text ? h("div", { class: "field-warning" }, glyph("triangle-alert", "icon icon-sm"), h("span", {}, text)) : null;
  }

  function sourceOptions(list, current, field, index) {
    const groups = [];
    const inputs = list.filter((s) => s.group === "inputs");
    const steps = list.filter((s) => s.group === "steps");
    if (steps.length) groups.push(h("optgroup", { label: "Results of earlier steps" }, steps.map((s) => h("option", { value: s.key, selected: s.key === current }, s.label))));
    if (inputs.length) groups.push(h("optgroup", { label: "Inputs" }, inputs.map((s) => h("option", { value: s.key, selected: s.key === current }, s.label))));
    return groups;
  }

  function refRow(step, index, field, key, id, value, set, rerender, hint) {
    const list = sources(field.kind, index);
    const ref = parseRef(value);
    const literal = typeof value === "string" && !ref;
    const current = ref ? ref.key : literal ? "literal" : "";
    const available = !ref || list.some((s) => s.key === ref.key);
    const noun = field.kind === "style" ? "a saved style id (sty_…)" : "an image id of yours (ast_…)";
    const select = h("select", { class: "select", id, name: key },
      value === undefined ? h("option", { value: "", selected: true }, field.required ? "Choose a source…" : "None") : !field.required ? h("option", { value: "" }, "None") : null,
      ref && !available ? h("option", { value: ref.key, selected: true }, `${refLabel(ref)} — not available`) : null,
      sourceOptions(list, current, field, index),
      h("option", { value: "literal", selected: literal }, `Type ${noun}`));
    select.addEventListener("change", () => {
      const chosen = list.find((s) => s.key === select.value);
      set(chosen ? chosen.token : select.value === "literal" ? "" : undefined);
      rerender();
      focusLater(`#${CSS.escape(id)}`);
    });
    const extraHint = !list.length ? (field.kind === "style" ? "Add a “Create style” step above this one to use its style." : "Add an image input, or a step above this one that makes an image.") : literal ? field.help : null;
    const box = fieldBox({ id, label: field.label, control: select, errorKey: key, hint: extraHint });
    if (literal) {
      const text = h("input", { class: "input mono-input", id: `${id}-literal`, value, maxlength: field.maxLength, "aria-label": `${field.label}: ${noun}`, autocomplete: "off", spellcheck: "false" });
      text.addEventListener("input", () => set(text.value));
      box.insertBefore(text, box.querySelector(".field-error"));
    }
    const problem = ref ? refProblem(ref, field, index) : "";
    if (problem) box.append(warning(problem));
    return box;
  }

  function refListRow(step, index, field, key, id, set, rerender) {
    const list = sources(field.kind, index);
    const items = Array.isArray(step.params[field.name]) ? step.params[field.name] : [];
    const legendId = `${id}-legend`;
    const rows = items.map((value, k) => {
      const ref = parseRef(value);
      const literal = !ref;
      const available = !ref || list.some((s) => s.key === ref.key);
      const select = h("select", { class: "select", id: k === 0 ? id : `${id}-${k}`, name: k === 0 ? key : null, "aria-label": `${field.label}: item ${k + 1}` },
        ref && !available ? h("option", { value: ref.key, selected: true }, `${refLabel(ref)} — not available`) : null,
        sourceOptions(list, ref?.key, field, index),
        h("option", { value: "literal", selected: literal }, "Type an image id of yours (ast_…)"));
      select.addEventListener("change", () => {
        const chosen = list.find((s) => s.key === select.value);
        const next = [...items];
        next[k] = chosen ? chosen.token : "";
        set(next);
        rerender();
        focusLater(`#${CSS.escape(select.id)}`);
      });
      const remove = iconButton("x", `Remove ${field.label.toLowerCase()} item ${k + 1}`, () => {
        const next = items.filter((_, j) => j !== k);
        set(next);
        rerender();
        focusLater(`#${CSS.escape(id)}-add`);
      }, { disabled: items.length <= (field.minItems || 0) });
      const literalInput = literal ? h("input", { class: "input mono-input", value, "aria-label": `${field.label}: image id ${k + 1}`, autocomplete: "off", spellcheck: "false" }) : null;
      literalInput?.addEventListener("input", () => {
        const next = [...items];
        next[k] = literalInput.value;
        set(next);
      });
      return h("li", { class: "ref-item" }, h("div", { class: "ref-item-row" }, select, remove), literalInput, warning(ref ? refProblem(ref, field, index) : ""));
    });
    const add = h("button", { type: "button", class: "btn btn-sm", id: `${id}-add`, disabled: field.maxItems && items.length >= field.maxItems, onclick: () => {
      set([...items, list[0] ? list[0].token : ""]);
      rerender();
      focusLater(`#${CSS.escape(items.length === 0 ? id : `${id}-${items.length}`)}`);
    } }, glyph("plus", "icon icon-sm"), "Add image");
    const limits = field.minItems && field.maxItems ? `${field.minItems} to ${field.maxItems} images.` : "";
    return h("fieldset", { class: "field", "aria-describedby": `${id}-hint` },
      h("legend", { id: legendId }, field.label),
      h("ul", { class: "ref-list", role: "list" }, rows),
      h("div", { class: "row" }, add, h("span", { class: "hint", id: `${id}-hint` }, limits)),
      h("div", { class: "field-error", id: `${id}-error`, "data-error-for": key }));
  }

  function textRow(step, index, field, key, id, value, set, hint) {
    const shown = typeof value === "string" ? toDisplay(value) : value === undefined ? "" : JSON.stringify(value);
    const long = !field.maxLength || field.maxLength > 200;
    const control = long
      ? h("textarea", { class: "textarea", id, name: key, rows: field.name === "prompt" ? 3 : 2, maxlength: field.maxLength }, shown)
      : h("input", { class: "input", id, name: key, value: shown, maxlength: field.maxLength, autocomplete: "off" });
    const warn = h("div", { class: "field-warning-slot" });
    const check = () => warn.replaceChildren(...missingInputs(control.value).map((name) => warning(`{{inputs.${name}}}: there is no input called “${name}”.`)));
    control.addEventListener("input", () => {
      set(control.value === "" ? undefined : toUids(control.value));
      check();
    });
    const menu = insertMenu(field, index, control);
    const box = fieldBox({ id, label: field.label, control, errorKey: key, hint, extra: menu });
    box.append(warn);
    check();
    return box;
  }

  const toDisplay = (text) => toNumbers(text);
  const missingInputs = (text) => [...new Set([...text.matchAll(INPUT_REF)].map((m) => m[1]))].filter((name) => !state.inputs.some((i) => i.name === name));

  function insertMenu(field, index, control) {
    const list = sources(field.kind, index).filter((s) => s.group === "inputs" || RULES.mixable.includes(field.kind));
    const menu = h("details", { class: "insert-menu" },
      h("summary", { class: "btn btn-ghost btn-sm", "aria-label": `Insert input into ${field.label}` }, glyph("plus", "icon icon-sm"), "Insert input"),
      h("div", { class: "menu" },
        list.length
          ? list.map((s) => h("button", { type: "button", onclick: () => {
            const start = control.selectionStart ?? control.value.length;
            const end = control.selectionEnd ?? control.value.length;
            const token = toNumbers(s.token);
            control.setRangeText(token, start, end, "end");
            control.dispatchEvent(new Event("input", { bubbles: true }));
            menu.open = false;
            control.focus();
          } }, h("span", { class: "grow" }, s.label.replace(/^Input · /, "")), h("code", { class: "token" }, toNumbers(s.token))))
          : h("p", { class: "menu-note muted small" }, "Add a text, number or choice input first.")));
    return menu;
  }

  function valueRow(step, index, field, key, id, value, set, rerender, hint) {
    const list = sources(field.kind, index);
    const ref = parseRef(value);
    const useId = `${id}-use`;
    let use = null;
    if (list.length || ref) {
      const available = !ref || list.some((s) => s.key === ref.key);
      use = h("select", { class: "select select-sm use-select", id: useId, name: ref ? key : null, "aria-label": ref ? null : `${field.label}: a fixed value or an input` },
        h("option", { value: "" }, "Fixed value"),
        ref && !available ? h("option", { value: ref.key, selected: true }, `${refLabel(ref)} — not available`) : null,
        sourceOptions(list, ref?.key, field, index));
      use.addEventListener("change", () => {
        const chosen = list.find((s) => s.key === use.value);
        set(chosen ? chosen.token : undefined);
        rerender();
        focusLater(`#${CSS.escape(useId)}`);
      });
    }
    if (ref) {
      const box = fieldBox({ id: useId, label: field.label, control: use, errorKey: key, hint: "Filled in from the input when the template runs." });
      box.append(warning(refProblem(ref, field, index)));
      return box;
    }
    let control;
    if (field.control === "choice") {
      const choicePrice = (choice) => {
        const op = OPS[step.operation];
        if (!op.price.fields.includes(field.name)) return "";
        const range = stepPrice({ ...step, params: { ...step.params, [field.name]: choice } });
        return range ? ` · ${priceText(range)}` : "";
      };
      const defaultLabel = field.choices.find((c) => c.value === field.default)?.label || "none";
      control = h("select", { class: "select", id, name: key },
        field.required ? (value === undefined ? h("option", { value: "", selected: true }, "Choose…") : null) : h("option", { value: "", selected: value === undefined }, `Default · ${defaultLabel}${choicePrice(field.default)}`),
        field.choices.map((c, k) => h("option", { value: String(k), selected: value !== undefined && c.value === value }, `${c.label}${choicePrice(c.value)}`)));
      control.addEventListener("change", () => set(control.value === "" ? undefined : field.choices[Number(control.value)].value));
    } else if (field.control === "number") {
      control = h("input", { class: "input", type: "number", id, name: key, value: value ?? "", min: field.min, max: field.max, step: field.integer ? 1 : "any", placeholder: field.default ?? "" , inputmode: field.integer ? "numeric" : "decimal" });
      control.addEventListener("input", () => {
        const v = numberOrText(control.value);
        set(v === null ? undefined : v);
      });
    } else {
      control = h("select", { class: "select", id, name: key },
        h("option", { value: "", selected: value === undefined }, field.default === null || field.default === undefined ? "Default" : `Default · ${field.default ? "yes" : "no"}`),
        h("option", { value: "true", selected: value === true }, "Yes"),
        h("option", { value: "false", selected: value === false }, "No"));
      control.addEventListener("change", () => set(control.value === "" ? undefined : control.value === "true"));
    }
    return fieldBox({ id, label: field.label, control, errorKey: key, hint, extra: use });
  }

  /** After a step's name changes, the lists that name it. */
  function refreshSources() {
    renderSteps();
    applyErrors();
  }

  function openPicker() {
    picker.showModal();
    picker.querySelector("[data-operation]").focus();
  }

  function addStep(operation) {
    const op = OPS[operation];
    const step = { uid: newUid("s"), operation, name: "", params: {} };
    const index = state.steps.length;
    // A new operation on an image starts from the result just above it, the usual chain.
    for (const field of op.fields.filter((f) => f.required && (f.kind === "image" || f.kind === "style"))) {
      const fits = sources(field.kind, index).filter((s) => s.group === "steps");
      if (fits.length) step.params[field.name] = field.list ? [fits[fits.length - 1].token] : fits[fits.length - 1].token;
    }
    state.steps.push(step);
    changed();
    renderSteps();
    applyErrors();
    announce(`Step ${state.steps.length}, ${op.label}, added.`);
    const card = stepsList.querySelector(`[data-uid="${step.uid}"]`);
    card.scrollIntoView({ block: "nearest" });
    focusLater(`#st-${step.uid}-name`);
  }

  function moveStep(from, to, direction) {
    if (to < 0 || to >= state.steps.length || from === to) return;
    const [step] = state.steps.splice(from, 1);
    state.steps.splice(to, 0, step);
    changed();
    renderSteps();
    applyErrors();
    announce(`Step “${stepTitle(step)}” moved to position ${to + 1} of ${state.steps.length}; references follow it.`);
    if (direction) focusMoved(stepsList, step.uid, direction);
  }

  async function deleteStep(uid) {
    const index = state.steps.findIndex((s) => s.uid === uid);
    const step = state.steps[index];
    const users = usedBy((text) => text.includes(`{{steps.@${uid}.output}}`)).filter((n) => n !== index + 1);
    if (users.length) {
      const ok = await confirmDialog({
        title: `Delete step ${index + 1}, “${stepTitle(step)}”?`,
        body: `Step${users.length > 1 ? "s" : ""} ${users.join(", ")} use${users.length > 1 ? "" : "s"} its result; you will choose another source there.`,
        confirm: "Delete step",
        danger: true,
      });
      if (!ok) return;
    }
    state.steps.splice(index, 1);
    openMore.delete(uid);
    changed();
    renderSteps();
    applyErrors();
    announce(`Step “${stepTitle(step)}” deleted.`);
    const next = stepsList.querySelectorAll("li.step-card")[Math.min(index, state.steps.length - 1)];
    (next?.querySelector('[data-do="delete"]') || root.querySelector("[data-add-step]")).focus();
  }

  // --- Reordering by dragging (the buttons do the same from the keyboard) -------------------

  function draggable(list, items, move) {
    let dragged = null;
    const clear = () => list.querySelectorAll(".drop-before, .drop-after").forEach((el) => el.classList.remove("drop-before", "drop-after"));
    list.addEventListener("pointerdown", (event) => {
      const grip = event.target.closest("[data-drag-handle]");
      if (grip) grip.closest("li").draggable = true;
    });
    list.addEventListener("dragstart", (event) => {
      const li = event.target.closest?.("li[data-uid]");
      if (!li || !li.draggable) return;
      dragged = li.dataset.uid;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged);
      li.classList.add("dragging");
    });
    list.addEventListener("dragover", (event) => {
      if (!dragged) return;
      const li = event.target.closest("li[data-uid]");
      if (!li || li.parentElement !== list) return;
      event.preventDefault();
      clear();
      const rect = li.getBoundingClientRect();
      li.classList.add(event.clientY < rect.top + rect.height / 2 ? "drop-before" : "drop-after");
    });
    list.addEventListener("drop", (event) => {
      if (!dragged) return;
      event.preventDefault();
      const li = event.target.closest("li[data-uid]");
      const all = items();
      const from = all.findIndex((x) => x.uid === dragged);
      if (li && from >= 0) {
        let to = all.findIndex((x) => x.uid === li.dataset.uid);
        const rect = li.getBoundingClientRect();
        if (event.clientY >= rect.top + rect.height / 2) to += 1;
        if (from < to) to -= 1;
        move(from, to);
      }
    });
    list.addEventListener("dragend", () => {
      list.querySelectorAll("li[draggable]").forEach((li) => { li.draggable = false; li.classList.remove("dragging"); });
      clear();
      dragged = null;
    });
    list.addEventListener("pointerup", () => list.querySelectorAll("li[draggable]").forEach((li) => { li.draggable = false; }));
  }

  // --- Focus and announcements -------------------------------------------------------------

  function focusLater(selector) {
    requestAnimationFrame(() => document.querySelector(selector)?.focus());
  }

  function focusMoved(list, uid, direction) {
    const card = list.querySelector(`[data-uid="${uid}"]`);
    const button = card.querySelector(`[data-do="${direction}"]`);
    (button && !button.disabled ? button : card.querySelector(`[data-do="${direction === "up" ? "down" : "up"}"]`))?.focus();
  }

  function announce(text) {
    announcer.textContent = "";
    requestAnimationFrame(() => { announcer.textContent = text; });
  }

  // --- Errors: the API's details next to what they name, and listed on top ------------------

  const META = ["name", "description", "tags", "visibility", "cover", "inputs", "steps"];

  function receive(details, sent) {
    problems = [];
    for (const [where, messages] of Object.entries(details || {})) {
      const list = Array.isArray(messages) ? messages.map(asText) : [asText(messages)];
      const parts = where.split(".");
      if ((parts[0] === "inputs" || parts[0] === "steps") && /^\d+$/.test(parts[1] || "")) {
        const uid = sent[parts[0]][Number(parts[1]) - 1];
        if (uid) {
          problems.push({ scope: parts[0], uid, field: parts.slice(2).join(".") || null, messages: list });
          continue;
        }
      }
      problems.push({ scope: META.includes(where) ? "meta" : "general", field: where, messages: list });
    }
  }

  function whereOf(problem) {
    if (problem.scope === "meta") return { key: problem.field, label: problem.field === "inputs" ? "Inputs" : problem.field === "steps" ? "Steps" : problem.field[0].toUpperCase() + problem.field.slice(1) };
    if (problem.scope === "general") return { key: null, label: problem.field };
    const items = problem.scope === "inputs" ? state.inputs : state.steps;
    const index = items.findIndex((x) => x.uid === problem.uid);
    if (index < 0) return { key: null, label: `A deleted ${problem.scope === "inputs" ? "input" : "step"}` };
    const base = `${problem.scope}.${index + 1}`;
    let label;
    if (problem.scope === "inputs") label = `Input ${index + 1} (${inputTitle(items[index])})`;
    else label = `Step ${index + 1} (${stepTitle(items[index])})`;
    if (!problem.field) return { key: base, label };
    const op = problem.scope === "steps" ? OPS[items[index].operation] : null;
    const fieldLabel = op?.fields.find((f) => f.name === problem.field)?.label || problem.field.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
    return { key: `${base}.${problem.field}`, base, label: `${label} · ${fieldLabel}` };
  }

  const slotFor = (key) => key && (form.querySelector(`[data-error-for="${CSS.escape(key)}"]`) || form.querySelector(`[name="${CSS.escape(key)}"]`));

  /** Place every problem next to the control or card it names (forms.js does the placing),
   * and list them on top with links to each. */
  function applyErrors() {
    const active = document.activeElement;
    if (!problems.length) {
      clearErrors(form);
      renderSummary([]);
      return;
    }
    const details = {};
    const listed = [];
    for (const problem of problems) {
      const where = whereOf(problem);
      let key = where.key;
      let messages = problem.messages;
      if (key && !slotFor(key) && where.base) {
        messages = messages.map((m) => `${problem.field}: ${m}`);
        key = where.base;
      }
      if (key && slotFor(key)) details[key] = [...(details[key] || []), ...messages];
      listed.push({ ...where, key: key && slotFor(key) ? key : null, messages: problem.messages });
    }
    if (Object.keys(details).length) showErrors(form, new ApiError(400, { code: "INVALID_REQUEST", error: summaryTitle, details }));
    else clearErrors(form);
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      if (slot.textContent) slot.closest("details")?.setAttribute("open", "");
    });
    renderSummary(listed);
    if (active && active !== document.body && document.contains(active)) active.focus();
  }

  function renderSummary(listed) {
    const list = summary.querySelector("[data-summary-list]");
    summary.hidden = listed.length === 0;
    if (!listed.length) {
      list.replaceChildren();
      return;
    }
    summary.querySelector("[data-summary-title]").textContent = summaryTitle || `${listed.length} problem${listed.length === 1 ? "" : "s"} to fix`;
    list.replaceChildren(...listed.map((item) => {
      const text = `${item.label}: ${item.messages.join(" ")}`;
      if (!item.key) return h("li", {}, text);
      return h("li", {}, h("a", { href: "#", "data-jump": item.key }, text));
    }));
  }

  summary.addEventListener("click", (event) => {
    const link = event.target.closest("[data-jump]");
    if (!link) return;
    event.preventDefault();
    const key = link.dataset.jump;
    const target = form.querySelector(`[name="${CSS.escape(key)}"]`) || form.querySelector(`[data-error-for="${CSS.escape(key)}"]`)?.closest(".field, li, section");
    if (!target) return;
    target.closest("details")?.setAttribute("open", "");
    target.scrollIntoView({ block: "center" });
    if (target.matches("input, select, textarea")) target.focus();
    else {
      target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });

  // Editing a field takes its problem away.
  form.addEventListener("input", (event) => forget(event.target));
  form.addEventListener("change", (event) => forget(event.target));
  function forget(control) {
    const key = control.name || control.closest(".field")?.querySelector("[data-error-for]")?.dataset.errorFor;
    if (!key || !problems.length) return;
    const before = problems.length;
    problems = problems.filter((p) => whereOf(p).key !== key);
    if (problems.length === before) return;
    const slot = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    if (slot) slot.textContent = "";
    control.removeAttribute("aria-invalid");
    renderSummary(problems.map((p) => ({ ...whereOf(p), messages: p.messages })).map((w) => ({ ...w, key: slotFor(w.key) ? w.key : null })));
  }

  // --- Saving, importing, exporting ------------------------------------------------------------

  function changed() {
    if (!dirty) {
      dirty = true;
      saveState.textContent = "Unsaved changes";
    }
  }

  window.addEventListener("beforeunload", (event) => {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });

  async function save(event) {
    event.preventDefault();
    const { document: body, broken } = documentBody();
    summaryTitle = "This template could not be saved";
    if (broken.length) {
      problems = broken.map((b) => ({ scope: "steps", uid: b.uid, field: b.field, messages: ["The step it used was deleted: choose another source."] }));
      applyErrors();
      summaryBox.focus();
      return;
    }
    const sent = { inputs: state.inputs.map((i) => i.uid), steps: state.steps.map((s) => s.uid) };
    saveButton.disabled = true;
    saveButton.setAttribute("aria-busy", "true");
    try {
      const saved = template ? await patch(url("detail", template.id), body) : await post(data.urls.create, body);
      problems = [];
      applyErrors();
      dirty = false;
      if (!template) {
        saveState.textContent = "Saved";
        window.location.assign(url("page", saved.id));
        return;
      }
      template = { ...template, version: saved.version };
      load({ ...saved, steps: saved.steps.map(({ operation, name, params }) => ({ operation, name, params })) });
      render();
      saveState.textContent = `Saved · version ${saved.version}`;
      toast("Template saved", "success");
    } catch (error) {
      if (error instanceof ApiError && error.code === "INVALID_REQUEST") {
        receive(error.details, sent);
        summaryTitle = "This template could not be saved. Fix what is marked and save again.";
        applyErrors();
        summaryBox.focus();
        summaryBox.scrollIntoView({ block: "start" });
      } else {
        problems = [];
        applyErrors();
        showErrors(form, error);
        summaryBox.focus();
      }
    } finally {
      saveButton.disabled = false;
      saveButton.removeAttribute("aria-busy");
    }
  }

  async function importFile(file) {
    summaryTitle = `“${file.name}” could not be imported`;
    let parsed;
    try {
      parsed = JSON.parse(await file.text());
    } catch (e) {
      problems = [{ scope: "general", field: file.name, messages: ["This file is not JSON: export a template to get one."] }];
      applyErrors();
      summaryBox.focus();
      return;
    }
    try {
      const created = await post(data.urls.import, parsed);
      dirty = false;
      window.location.assign(url("edit", created.id));
    } catch (error) {
      if (error instanceof ApiError && error.code === "INVALID_REQUEST") {
        // About the file, not the template on this page: listed, in the file's own terms.
        problems = Object.entries(error.details || {}).map(([where, messages]) => ({ scope: "general", field: describeWhere(where), messages: Array.isArray(messages) ? messages.map(asText) : [asText(messages)] }));
        if (!problems.length) problems = [{ scope: "general", field: "The file", messages: [error.message] }];
      } else problems = [{ scope: "general", field: "Import", messages: [explain(error)] }];
      applyErrors();
      summaryBox.focus();
    }
  }

  function describeWhere(where) {
    const m = where.match(/^(inputs|steps)\.(\d+)(?:\.(.+))?$/);
    if (!m) return where;
    return `${m[1] === "inputs" ? "Input" : "Step"} ${m[2]}${m[3] ? ` · ${m[3]}` : ""}`;
  }

  async function exportFile() {
    try {
      const exported = await get(url("export", template.id));
      const blob = new Blob([`${JSON.stringify(exported, null, 2)}\n`], { type: "application/json" });
      const link = h("a", { href: URL.createObjectURL(blob), download: `${slug(exported.name) || template.id}.json`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      toast(dirty ? "Exported the saved version: your unsaved changes are not in the file." : "Template exported", dirty ? "info" : "success");
    } catch (error) {
      toast(explain(error), "error");
    }
  }

  const slug = (text) => String(text || "").toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);

  // --- Wiring ------------------------------------------------------------------------------

  function renderMeta() {
    form.elements.name.value = state.name;
    form.elements.description.value = state.description;
    form.elements.tags.value = state.tags;
    for (const radio of form.querySelectorAll('input[name="visibility"]')) radio.checked = radio.value === state.visibility;
  }

  function render() {
    renderMeta();
    renderInputs();
    renderSteps();
    applyErrors();
  }

  form.elements.name.addEventListener("input", (e) => { state.name = e.target.value; });
  form.elements.description.addEventListener("input", (e) => { state.description = e.target.value; });
  form.elements.tags.addEventListener("input", (e) => { state.tags = e.target.value; });
  for (const radio of form.querySelectorAll('input[name="visibility"]')) radio.addEventListener("change", () => { state.visibility = radio.value; });
  form.addEventListener("input", changed);
  form.addEventListener("submit", save);

  root.querySelector("[data-add-input]").addEventListener("click", addInput);
  root.querySelector("[data-add-step]").addEventListener("click", openPicker);
  picker.addEventListener("click", (event) => {
    const option = event.target.closest("[data-operation]");
    if (!option) return;
    picker.close();
    addStep(option.dataset.operation);
  });
  picker.addEventListener("click", (event) => { if (event.target === picker) picker.close(); });

  const importInput = root.querySelector("[data-import-file]");
  root.querySelector("[data-import]").addEventListener("click", async () => {
    if (dirty && !(await confirmDialog({ title: "Import another template?", body: "The import opens as a new template; the unsaved changes here are lost.", confirm: "Choose a file" }))) return;
    importInput.value = "";
    importInput.click();
  });
  importInput.addEventListener("change", () => {
    if (importInput.files[0]) importFile(importInput.files[0]);
  });
  root.querySelector("[data-export]")?.addEventListener("click", exportFile);

  document.addEventListener("click", (event) => {
    document.querySelectorAll(".insert-menu[open]").forEach((menu) => { if (!menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    document.querySelectorAll(".insert-menu[open]").forEach((menu) => {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });

  draggable(inputsList, () => state.inputs, moveInput);
  draggable(stepsList, () => state.steps, moveStep);

  load(data.document);
  render();
}
