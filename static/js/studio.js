// The studio: the generation form (live cost from the estimate endpoint, Ctrl/⌘+Enter), and
// the canvas, where every job has its own card with live progress and, when done, its result
// and what can be done with it next. Every change goes through the API.

import { api, ApiError, explain, get, post } from "./api.js";
import { clearErrors, formBody, showErrors } from "./forms.js";
import { follow, isFinished } from "./jobs.js";
import { confirmDialog, copyText, escapeHtml, icon, refreshCredits, toast } from "./ui.js";

const data = JSON.parse(document.getElementById("studio-data").textContent);
const options = data.options;
const form = document.getElementById("generate-form");
const canvas = document.getElementById("canvas");
const strip = document.getElementById("recent-strip");
const generateButton = document.getElementById("generate");
const costText = document.getElementById("cost");
const availableText = document.getElementById("available");
const costWarning = document.getElementById("cost-warning");
const prompt = document.getElementById("prompt");
const counter = document.getElementById("prompt-counter");
const seed = document.getElementById("seed");
const seedRandom = document.getElementById("seed-random");

// What can be done next with a picture, and operations in words: from the server (studio/labels.py).
const OPERATIONS = options.operations;
const OPERATION_NAMES = options.operation_names;

const kind = () => form.querySelector('input[name="kind"]:checked').value;

// --- The form --------------------------------------------------------------------------

function setKind(value) {
  form.dataset.kind = value;
  for (const fieldset of form.querySelectorAll("[data-kind-fields]")) {
    const on = fieldset.dataset.kindFields === value;
    fieldset.disabled = !on;
    fieldset.hidden = !on;
  }
  clearErrors(form);
  limitDuration();
  estimate();
}

function updateCounter() {
  const { minlength, maxlength } = options.prompt.prompt;
  const length = prompt.value.trim().length;
  counter.textContent = `${prompt.value.length} / ${maxlength}`;
  counter.classList.toggle("bad", prompt.value.length > maxlength || (length > 0 && length < minlength));
}

function syncOutputs() {
  for (const output of form.querySelectorAll("output[for]")) {
    const input = document.getElementById(output.htmlFor.value || output.getAttribute("for"));
    if (input) output.textContent = input.value + (output.dataset.suffix || "");
  }
}

function limitDuration() {
  const select = document.getElementById("video-model");
  const duration = document.getElementById("duration");
  const longest = Number(select.selectedOptions[0]?.dataset.maxDuration || duration.max);
  duration.max = String(longest);
  if (Number(duration.value) > longest) duration.value = String(longest);
  syncOutputs();
}

function syncSeed() {
  seed.disabled = seedRandom.checked;
  if (seedRandom.checked) seed.value = "";
}

let estimateTimer = null;
let estimateToken = 0;
function estimate() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(runEstimate, 120);
}

async function runEstimate() {
  const token = ++estimateToken;
  const image = kind() === "image";
  const model = form.querySelector(`#${image ? "image" : "video"}-model`).value;
  const quantity = image ? Number(form.querySelector('input[name="num_images"]:checked')?.value || 1) : 1;
  costText.textContent = "…";
  try {
    const result = await post("/api/v1/tokens/estimate", {
      operation: image ? "image_generation" : "video_generation",
      model,
      quantity,
    });
    if (token !== estimateToken) return;
    costText.textContent = `${result.cost} credit${result.cost === 1 ? "" : "s"}`;
    availableText.textContent = result.available.toLocaleString();
    generateButton.disabled = !result.sufficient;
    costWarning.textContent = result.sufficient
      ? ""
      : `Not enough credits: this costs ${result.cost} and you have ${result.available} available. Credits refill every month; see the dashboard.`;
  } catch (error) {
    if (token !== estimateToken) return;
    costText.textContent = "unknown";
    generateButton.disabled = false; // the API decides when it is sent
    costWarning.textContent = "";
  }
}

async function submit(event) {
  event.preventDefault();
  if (generateButton.disabled) return;
  const body = formBody(form);
  const path = kind() === "image" ? "/api/v1/studio/generate-image" : "/api/v1/studio/generate-video";
  generateButton.disabled = true;
  generateButton.setAttribute("aria-busy", "true");
  try {
    const accepted = await post(path, body);
    clearErrors(form);
    const card = addJob({ ...accepted, prompt: body.prompt, type: accepted.type });
    track(card, accepted.id);
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    refreshCredits().then(() => estimate());
  } catch (error) {
    showErrors(form, error);
    if (error instanceof ApiError && error.code === "INSUFFICIENT_CREDITS") {
      costWarning.textContent = explain(error);
    }
  } finally {
    generateButton.removeAttribute("aria-busy");
    generateButton.disabled = false;
    estimate();
  }
}

// --- The canvas ------------------------------------------------------------------------

const cards = new Map();

function describe(job) {
  const meta = job.metadata || {};
  if (job.type === "operation") {
    const name = OPERATION_NAMES[meta.operation] || meta.operation || "Operation";
    return { title: `${name}${meta.scale ? ` ${meta.scale}×` : ""}`, details: `of ${meta.source || "an image"}` };
  }
  const parts = [meta.model];
  if (job.type === "video") parts.push(`${meta.duration} s · ${meta.fps} fps`);
  else if (meta.width) parts.push(`${meta.width}×${meta.height}`);
  if (meta.num_images > 1) parts.push(`${meta.num_images} images`);
  if (meta.seed !== undefined) parts.push(`seed ${meta.seed}`);
  return { title: job.prompt || "", details: parts.filter(Boolean).join(" · ") };
}

function addJob(job, { top = true } = {}) {
  document.getElementById("canvas-empty")?.remove();
  canvas.classList.add("has-jobs");
  let card = cards.get(job.id);
  if (!card) {
    card = document.createElement("article");
    card.className = "job job-card";
    card.dataset.job = job.id;
    card.dataset.progressLog = "";
    card.setAttribute("aria-labelledby", `title-${job.id}`);
    const { title, details } = describe(job);
    card.innerHTML = `
      <header class="job-head">
        <div class="grow">
          <p class="prompt mb-0" id="title-${escapeHtml(job.id)}">${escapeHtml(title)}</p>
          <p class="small muted mb-0" data-details>${escapeHtml(details)}</p>
        </div>
        <span class="badge" data-status></span>
        <button type="button" class="btn btn-sm" data-job-action="cancel">${icon("x")}Cancel</button>
      </header>
      <div class="job-status" data-progress-area>
        <progress max="100" value="0" aria-label="Progress"></progress>
        <p class="stage mb-0"><span data-label>Waiting for a worker</span> · <span data-percent class="num">0%</span><span data-eta></span></p>
      </div>
      <div class="job-error" data-error hidden></div>
      <div class="job-media" data-media hidden></div>
      <div class="job-actions" data-actions hidden></div>`;
    card.querySelector("progress").setAttribute("aria-label", `Progress of “${title.slice(0, 60)}”`);
    cards.set(job.id, card);
    if (top) canvas.prepend(card);
    else canvas.append(card);
  }
  update(card, job);
  updateRunning();
  return card;
}

function badge(card, status) {
  const element = card.querySelector("[data-status]");
  const classes = { completed: "badge-success", failed: "badge-danger", cancelled: "badge-warning" };
  element.className = `badge ${classes[status] || "badge-accent"}`;
  element.textContent = status;
}

function update(card, job, via) {
  card.dataset.status = job.status;
  badge(card, job.status);
  if (!isFinished(job.status)) {
    const percent = Math.max(0, Math.min(100, job.progress || 0));
    card.querySelector("progress").value = percent;
    card.querySelector("[data-percent]").textContent = `${percent}%`;
    if (job.label) card.querySelector("[data-label]").textContent = job.label;
    const eta = job.estimated_remaining;
    card.querySelector("[data-eta]").textContent = eta > 0 ? ` · about ${eta} s left` : "";
    if (via) {
      card.dataset.via = via;
      card.dataset.progressLog += (card.dataset.progressLog ? "," : "") + percent;
    }
  }
}

function finished(card, job, via) {
  if (via) {
    card.dataset.via = via;
    card.dataset.progressLog += (card.dataset.progressLog ? "," : "") + (job.status === "completed" ? 100 : job.progress);
  }
  card.dataset.status = job.status;
  badge(card, job.status);
  card.querySelector("[data-details]").textContent = describe(job).details;
  card.querySelector('[data-job-action="cancel"]')?.remove();
  const area = card.querySelector("[data-progress-area]");
  const media = card.querySelector("[data-media]");
  const actions = card.querySelector("[data-actions]");
  const errorBox = card.querySelector("[data-error]");
  if (job.status === "completed") {
    area.remove();
    renderMedia(media, job);
    renderActions(actions, job);
  } else {
    area.remove();
    errorBox.hidden = false;
    errorBox.innerHTML = `<div class="alert ${job.status === "failed" ? "alert-danger" : "alert-warning"}">${icon(job.status === "failed" ? "triangle-alert" : "ban")}<p><strong>${job.status === "failed" ? "This one did not work out" : "Cancelled"}</strong>${escapeHtml(job.error || "")} Your credits were given back.</p></div>`;
    actions.hidden = false;
    actions.innerHTML = `
      <button type="button" class="btn btn-sm" data-job-action="retry">${icon("refresh-cw")}Retry</button>
      <button type="button" class="btn btn-sm btn-danger" data-job-action="delete">${icon("trash-2")}Delete</button>`;
  }
  card.job = job;
  updateRunning();
}

function renderMedia(media, job) {
  const files = job.files || [];
  media.hidden = false;
  media.classList.toggle("many", files.length > 1);
  media.innerHTML = files
    .map((file, index) => {
      const label = `${job.prompt || describe(job).title}${files.length > 1 ? ` (${index + 1} of ${files.length})` : ""}`;
      if (file.content_type === "video/mp4") {
        return `<video src="${escapeHtml(file.url)}" poster="${escapeHtml(file.thumbnail_url)}" controls playsinline preload="metadata" width="${file.width}" height="${file.height}" aria-label="${escapeHtml(label)}"></video>`;
      }
      const transparent = job.metadata?.operation === "background_removal" ? " checker" : "";
      return `<a href="${escapeHtml(file.url)}" target="_blank" rel="noopener" class="${transparent.trim()}"><img src="${escapeHtml(file.content_type === "image/svg+xml" ? file.url : file.url)}" alt="${escapeHtml(label)}" width="${file.width}" height="${file.height}"></a>`;
    })
    .join("");
}

function renderActions(actions, job) {
  const file = (job.files || [])[0] || {};
  const raster = file.content_type && file.content_type.startsWith("image/") && file.content_type !== "image/svg+xml";
  const buttons = [];
  for (const [index, item] of (job.files || []).entries()) {
    const name = job.files.length > 1 ? `Download ${index + 1}` : "Download";
    buttons.push(`<a class="btn btn-sm" href="${escapeHtml(item.download_url || item.url)}" download>${icon("download")}${name}</a>`);
  }
  if (job.type !== "operation") buttons.push(`<a class="btn btn-sm" href="/studio/?from=${encodeURIComponent(job.id)}" data-use-settings>${icon("shuffle")}Use these settings</a>`);
  if (job.prompt) buttons.push(`<button type="button" class="btn btn-sm" data-job-action="copy">${icon("copy")}Copy prompt</button>`);
  buttons.push(`<button type="button" class="btn btn-sm" data-job-action="star" aria-pressed="${job.starred ? "true" : "false"}">${icon("star")}<span>${job.starred ? "Starred" : "Star"}</span></button>`);
  buttons.push(`<button type="button" class="btn btn-sm" data-job-action="move">${icon("folder-input")}Move</button>`);
  buttons.push(`<span class="end-actions push-end">
    <a class="btn btn-sm btn-icon btn-ghost" href="/gallery/${encodeURIComponent(job.id)}/" aria-label="Details" title="Every parameter, attempt and charge">${icon("info")}</a>
    <button type="button" class="btn btn-sm btn-icon btn-ghost btn-danger" data-job-action="delete" aria-label="Delete" title="Delete this result">${icon("trash-2")}</button>
  </span>`);
  if (raster) {
    buttons.push(`<div class="ops" role="group" aria-label="Operations on this picture"><span class="ops-label">Next</span>`);
    for (const [index, op] of OPERATIONS.entries()) {
      const cost = op.cost;
      buttons.push(`<button type="button" class="btn btn-sm" data-job-action="operation" data-op="${index}" title="${cost} credits; makes a new result">${icon(op.icon)}<span>${escapeHtml(op.label)}</span><span class="cost">${cost}<span class="sr-only"> credits</span></span></button>`);
    }
    buttons.push("</div>");
  }
  actions.hidden = false;
  actions.innerHTML = buttons.join("");
}

function updateRunning() {
  const running = [...cards.values()].filter((card) => !isFinished(card.dataset.status)).length;
  document.getElementById("running-count").textContent = running ? `${running} running` : "";
}

function track(card, id) {
  follow(id, {
    onUpdate: (job, via) => update(card, job, via),
    onDone: (job, via) => {
      finished(card, job, via);
      refreshCredits().then(() => estimate());
      if (job.status === "completed") addToStrip(job);
    },
    onGone: () => {
      card.remove();
      cards.delete(id);
      updateRunning();
    },
  });
}

function addToStrip(job) {
  if (!strip || strip.querySelector(`[data-generation="${CSS.escape(job.id)}"]`)) return;
  strip.hidden = false;
  document.getElementById("recent-empty")?.remove();
  const tile = document.createElement("div");
  tile.className = "tile";
  tile.dataset.generation = job.id;
  const title = job.prompt || describe(job).title;
  tile.innerHTML = `<div class="tile-media">${job.thumbnail_url ? `<img src="${escapeHtml(job.thumbnail_url)}" alt="" width="120" height="120">` : icon("image", "icon icon-lg")}</div>
    <div class="tile-body"><a class="title truncate" href="/gallery/${encodeURIComponent(job.id)}/" title="${escapeHtml(title)}">${escapeHtml(title)}</a><div class="meta"><span>${escapeHtml(job.type)}</span></div></div>`;
  strip.prepend(tile);
}

async function show(id) {
  const existing = cards.get(id);
  if (existing) {
    existing.scrollIntoView({ block: "nearest", behavior: "smooth" });
    return;
  }
  try {
    const job = await get(`/api/v1/studio/generation/${encodeURIComponent(id)}`);
    const card = addJob(job);
    if (isFinished(job.status)) finished(card, job);
    else track(card, id);
  } catch (error) {
    toast(explain(error), "error");
  }
}

// --- Actions on a job -------------------------------------------------------------------

async function onAction(event) {
  const button = event.target.closest("[data-job-action]");
  if (!button) return;
  const card = button.closest("[data-job]");
  const id = card.dataset.job;
  const job = card.job || {};
  const action = button.dataset.jobAction;
  button.disabled = true;
  try {
    if (action === "cancel") {
      await post(`/api/v1/studio/generation/${encodeURIComponent(id)}/cancel`);
      toast("Cancelled; the credits are back.", "success");
    } else if (action === "retry") {
      const accepted = await post(`/api/v1/studio/generation/${encodeURIComponent(id)}/retry`);
      track(addJob({ ...accepted, prompt: job.prompt }), accepted.id);
      refreshCredits();
    } else if (action === "delete") {
      const ok = await confirmDialog({ title: "Delete this result?", body: "Its files are deleted for good. Credits already spent on it are not refunded.", confirm: "Delete", danger: true });
      if (!ok) return;
      await api("DELETE", `/api/v1/users/generation/${encodeURIComponent(id)}`);
      card.remove();
      cards.delete(id);
      strip?.querySelector(`[data-generation="${CSS.escape(id)}"]`)?.remove();
      updateRunning();
      toast("Deleted.", "success");
    } else if (action === "copy") {
      copyText(job.prompt || "");
    } else if (action === "star") {
      const starred = button.getAttribute("aria-pressed") !== "true";
      const body = await api("PATCH", `/api/v1/studio/generation/${encodeURIComponent(id)}`, { starred });
      button.setAttribute("aria-pressed", String(body.starred));
      button.querySelector("span").textContent = body.starred ? "Starred" : "Star";
      card.job = { ...job, starred: body.starred };
    } else if (action === "move") {
      await moveToProject(id);
    } else if (action === "operation") {
      const op = OPERATIONS[Number(button.dataset.op)];
      const accepted = await post(`/api/v1/studio/${op.path}`, { source: id, ...(op.body || {}) });
      const child = addJob({ ...accepted, metadata: { ...accepted.metadata, ...(op.body || {}) } });
      track(child, accepted.id);
      child.scrollIntoView({ block: "nearest", behavior: "smooth" });
      refreshCredits().then(() => estimate());
    }
  } catch (error) {
    toast(explain(error), "error");
  } finally {
    button.disabled = false;
  }
}

async function moveToProject(id) {
  const select = document.getElementById("project");
  const choices = [...select.options]
    .map((o) => `<option value="${escapeHtml(o.value)}">${escapeHtml(o.value ? o.textContent : "No project (take it out)")}</option>`)
    .join("");
  const dialog = await confirmDialog({
    title: "Move to a project",
    body: "Its files stay where they are; it is filed in the project you choose.",
    confirm: "Move",
    extra: `<div class="field mt-3"><label for="move-project">Project</label><select class="select" id="move-project">${choices}</select></div>`,
  });
  if (!dialog) return;
  const project = dialog.querySelector("#move-project").value || null;
  await post("/api/v1/assets/move", { ids: [id], project });
  toast(project ? "Moved to the project." : "Taken out of its project.", "success");
}

// --- Start ------------------------------------------------------------------------------

form.addEventListener("submit", submit);
form.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});
form.addEventListener("change", (event) => {
  if (event.target.name === "kind") setKind(event.target.value);
  if (event.target.id === "video-model") limitDuration();
  if (event.target.id === "seed-random") syncSeed();
  if (event.target.matches("[data-estimate]")) estimate();
});
form.addEventListener("input", (event) => {
  if (event.target === prompt) updateCounter();
  if (event.target.type === "range") syncOutputs();
});
canvas.addEventListener("click", onAction);
strip?.addEventListener("click", (event) => {
  const link = event.target.closest(".tile a");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  show(link.closest("[data-generation]").dataset.generation);
});
// The estimate says what this person may spend here (an organization's credits within their
// monthly limit), so it is asked again rather than copying the account's figure.
document.addEventListener("credits:changed", () => estimate());

syncSeed();
updateCounter();
syncOutputs();
limitDuration();
estimate();
if (data.shown) {
  const card = addJob(data.shown);
  if (isFinished(data.shown.status)) finished(card, data.shown);
  else track(card, data.shown.id);
}
for (const id of data.active) show(id);
