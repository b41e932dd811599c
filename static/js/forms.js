// Forms that talk to the JSON API: <form data-api="/api/v1/…" data-method="POST">.
// Fields become the JSON body (numbers as numbers, checkboxes as booleans, empty optional
// fields left out); the API validates, and its error details land next to the named fields.

import { api, ApiError, explain } from "./api.js";
import { toast } from "./ui.js";

export function formBody(form) {
  const body = {};
  for (const element of form.elements) {
    // :disabled also covers the controls of a disabled <fieldset> (the other kind's fields).
    if (!element.name || element.matches(":disabled") || element.dataset.skip !== undefined) continue;
    if (element.type === "radio" && !element.checked) continue;
    if (element.type === "file" || element.type === "submit" || element.type === "button") continue;
    let value;
    if (element.type === "checkbox" && element.dataset.array !== undefined) {
      // A group of checkboxes with one name: the list of the checked values.
      body[element.name] = body[element.name] || [];
      if (element.checked) body[element.name].push(element.value);
      continue;
    }
    if (element.type === "checkbox") value = element.checked;
    else if (element.type === "number" || element.type === "range" || element.dataset.type === "number") {
      if (element.value.trim() === "") continue;
      value = Number(element.value);
      if (Number.isNaN(value)) value = element.value; // let the API name the mistake
    } else if (element.multiple) value = [...element.selectedOptions].map((o) => o.value);
    else if (element.dataset.type === "list") value = element.value.split(",").map((v) => v.trim()).filter(Boolean);
    else {
      value = element.value;
      if (value === "" && element.dataset.keepEmpty === undefined) continue;
      if (value === "" && element.dataset.null !== undefined) value = null;
    }
    body[element.name] = value;
  }
  return body;
}

function errorSlot(form, name) {
  let slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  const field = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!slot && field) {
    slot = document.createElement("div");
    slot.className = "field-error";
    slot.dataset.errorFor = name;
    slot.id = `${form.id || "form"}-${name}-error`;
    (field.closest(".field") || field.parentElement).append(slot);
  }
  return { slot, field };
}

export function clearErrors(form) {
  form.querySelectorAll("[data-error-for]").forEach((slot) => { slot.textContent = ""; });
  form.querySelectorAll('[aria-invalid="true"]').forEach((field) => field.removeAttribute("aria-invalid"));
  const general = form.querySelector("[data-form-error]");
  if (general) general.textContent = "";
}

const asText = (value) => (Array.isArray(value) ? value.map(asText).join(" ") : typeof value === "object" && value ? Object.values(value).map(asText).join(" ") : String(value));

/** Put an API error on the form: each detail next to its field, the rest on top. */
export function showErrors(form, error) {
  clearErrors(form);
  let placed = false;
  let first = null;
  if (error instanceof ApiError && error.code === "INVALID_REQUEST") {
    for (const [name, messages] of Object.entries(error.details)) {
      const { slot, field } = errorSlot(form, name);
      if (!slot) continue;
      slot.textContent = asText(messages);
      if (field) {
        field.setAttribute("aria-invalid", "true");
        const described = new Set((field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
        described.add(slot.id);
        field.setAttribute("aria-describedby", [...described].join(" "));
        first = first || field;
      }
      placed = true;
    }
  }
  const general = form.querySelector("[data-form-error]");
  if (!placed) {
    if (general) general.textContent = explain(error);
    else toast(explain(error), "error");
  }
  (first || general)?.focus?.();
}

async function submit(form, submitter) {
  const method = (form.dataset.method || "POST").toUpperCase();
  const body = form.enctype === "multipart/form-data" ? new FormData(form) : formBody(form);
  const buttons = [...form.querySelectorAll('button[type="submit"], button:not([type])')];
  buttons.forEach((b) => { b.disabled = true; });
  submitter?.setAttribute("aria-busy", "true");
  try {
    const data = await api(method, form.dataset.api, body, { form: body instanceof FormData });
    clearErrors(form);
    const event = new CustomEvent("api:success", { detail: data, bubbles: true, cancelable: true });
    if (!form.dispatchEvent(event)) return;
    const after = form.dataset.success || "reload";
    if (form.dataset.toast) toast(form.dataset.toast, "success");
    if (after === "reload") window.location.reload();
    else if (after.startsWith("redirect:")) window.location.assign(after.slice(9).replace("{id}", encodeURIComponent(data.id)));
    else if (after === "reset") form.reset();
  } catch (error) {
    showErrors(form, error);
    form.dispatchEvent(new CustomEvent("api:error", { detail: error, bubbles: true }));
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    submitter?.removeAttribute("aria-busy");
  }
}

export function enhanceForms(root = document) {
  root.querySelectorAll("form[data-api]").forEach((form) => {
    if (form.dataset.enhanced) return;
    form.dataset.enhanced = "1";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(form, event.submitter);
    });
  });
}
