// Templates: the gallery's filters apply as they change; a template's page has its run form
// (the price from POST /templates/<id>/cost as inputs change, sliders paired with number boxes,
// a dice for seeds, Run with a new Idempotency-Key per press) and its rating.

import { api, ApiError, explain, post } from "./api.js";
import { formBody, showErrors } from "./forms.js";
import { toast } from "./ui.js";

// --- The gallery -----------------------------------------------------------------------

function setupFilters() {
  const form = document.querySelector("form[data-auto-submit]");
  if (!form) return;
  form.addEventListener("change", (event) => {
    if (event.target.matches("select, input[type=radio]")) form.requestSubmit();
  });
}

// --- The run form ----------------------------------------------------------------------

/** A key that makes this one press of Run safe to repeat (a retried request starts nothing twice). */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// A new Idempotency-Key per press: a double click or a retried request runs once.
const postOnce = (path, body, key) => api("POST", path, body, { headers: { "Idempotency-Key": key } });

/** The API names an input's problem `inputs.<name>`; the form's fields are called `<name>`. */
function byInput(error) {
  if (!(error instanceof ApiError) || error.code !== "INVALID_REQUEST") return error;
  const details = {};
  for (const [key, value] of Object.entries(error.details)) details[key.replace(/^inputs\./, "")] = value;
  error.details = details;
  return error;
}

function setupRunForm() {
  const form = document.getElementById("run-form");
  const dataNode = document.getElementById("template-data");
  if (!form || !dataNode) return;
  const data = JSON.parse(dataNode.textContent);
  const base = `/api/v1/templates/${encodeURIComponent(data.id)}`;
  const run = document.getElementById("run");
  const total = document.getElementById("cost-total");
  const availableText = document.getElementById("available");
  const warning = document.getElementById("cost-warning");
  let available = data.available;
  let price = null;

  const inputs = () => formBody(form);

  const judge = () => {
    const short = price !== null && price > available;
    run.disabled = short;
    warning.textContent = short
      ? `Not enough credits: this costs ${price} and you have ${available} available. Credits refill every month; see the dashboard.`
      : "";
  };

  // Problems the price check found, next to their fields (without taking the focus away
  // from the field being typed in); the run's own errors are left alone.
  const markCostErrors = (details) => {
    form.querySelectorAll('[data-error-for][data-from="cost"]').forEach((slot) => {
      slot.textContent = "";
      delete slot.dataset.from;
    });
    for (const [key, messages] of Object.entries(details)) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(key.replace(/^inputs\./, ""))}"]`);
      if (!slot) continue;
      slot.textContent = [].concat(messages).join(" ");
      slot.dataset.from = "cost";
    }
  };

  let timer = null;
  let asked = 0;
  const estimate = () => {
    clearTimeout(timer);
    timer = setTimeout(price_, 250);
  };
  async function price_() {
    const token = ++asked;
    total.textContent = "…";
    try {
      const plan = await post(`${base}/cost`, { inputs: inputs() });
      if (token !== asked) return;
      price = plan.total;
      total.textContent = `${plan.total} credit${plan.total === 1 ? "" : "s"}`;
      for (const step of plan.steps) {
        const cell = document.querySelector(`[data-step="${step.number}"] [data-step-cost]`);
        if (cell) cell.textContent = step.cost;
      }
      markCostErrors({});
      judge();
    } catch (error) {
      if (token !== asked) return;
      price = null;
      total.textContent = "—";
      run.disabled = false; // the API decides when Run is pressed
      if (error instanceof ApiError && error.code === "INVALID_REQUEST") {
        markCostErrors(error.details);
        warning.textContent = "Fix the marked inputs to see the price.";
      } else {
        warning.textContent = explain(error);
      }
    }
  }

  form.addEventListener("input", (event) => {
    const target = event.target;
    const pair = target.dataset.pair && document.getElementById(target.dataset.pair);
    if (pair) pair.value = target.value;
    const counter = target.id && form.querySelector(`[data-counter-for="${CSS.escape(target.id)}"]`);
    if (counter) counter.textContent = `${target.value.length} / ${target.maxLength}`;
    const name = target.name || (pair && pair.name);
    const slot = name && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) slot.textContent = "";
    (pair && pair.name ? pair : target).removeAttribute("aria-invalid");
    estimate();
  });
  form.addEventListener("change", estimate);
  form.addEventListener("click", (event) => {
    const dice = event.target.closest("[data-dice]");
    if (!dice) return;
    const field = document.getElementById(dice.dataset.dice);
    const max = Number(field.max || data.seedMax);
    field.value = String(Math.floor(Math.random() * (max + 1)));
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (run.disabled) return;
    run.disabled = true;
    run.setAttribute("aria-busy", "true");
    try {
      const execution = await postOnce(`${base}/execute`, { inputs: inputs() }, newKey());
      window.location.assign(`/executions/${encodeURIComponent(execution.id)}/`);
      return;
    } catch (error) {
      showErrors(form, byInput(error));
      if (error instanceof ApiError && error.code === "INSUFFICIENT_CREDITS") warning.textContent = explain(error);
      run.disabled = false;
    } finally {
      run.removeAttribute("aria-busy");
    }
  });

  document.addEventListener("credits:changed", (event) => {
    available = event.detail.available;
    availableText.textContent = available.toLocaleString();
    judge();
  });
  estimate();
}

// --- Rating ----------------------------------------------------------------------------

function setupRating() {
  const box = document.querySelector("[data-rate]");
  if (!box) return;
  const summary = document.querySelector("[data-rating-summary]");
  const mine = box.querySelector("[data-my-rating]");
  let saved = box.querySelector("input:checked")?.value || "";
  box.addEventListener("change", async (event) => {
    const score = Number(event.target.value);
    try {
      const template = await post(`/api/v1/templates/${encodeURIComponent(box.dataset.rate)}/rating`, { score });
      saved = String(template.myRating);
      showRating(summary, template.rating);
      mine.textContent = `You gave it ${template.myRating} out of 5. Pick another to change it.`;
      toast("Thanks: your rating is saved.", "success");
    } catch (error) {
      toast(explain(error), "error");
      box.querySelectorAll("input").forEach((input) => { input.checked = input.value === saved; });
    }
  });
}

/** The stars and words of a rating summary, as pipelines/partials/stars.html draws them. */
function showRating(summary, { average, count }) {
  const halves = Math.round((average || 0) * 2);
  summary.querySelectorAll("[data-stars] .star").forEach((star, index) => {
    const n = index + 1;
    star.classList.remove("on", "half", "off");
    star.classList.add(halves >= 2 * n ? "on" : halves === 2 * n - 1 ? "half" : "off");
  });
  summary.querySelector("[data-rating-text]").textContent = count
    ? `${average.toFixed(1)} out of 5 · ${count} rating${count === 1 ? "" : "s"}`
    : "Not rated yet";
}

setupFilters();
setupRunForm();
setupRating();
