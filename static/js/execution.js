// A run of a template as it goes: every step's status, progress and result, the credits held,
// charged and released, and Cancel / Retry. Events come from /api/v1/executions/<id>/events
// (`execution` with the run's body on every change, `progress` for the running step, then one
// final event); when that stream cannot open, GET /executions/<id> is polled and the running
// step's own job is followed for its stage (jobs.js, as the studio follows a job).

import { get, post, explain } from "./api.js";
import { follow, isFinished } from "./jobs.js";
import { confirmDialog, escapeHtml, icon, localClock, refreshCredits, toast } from "./ui.js";

const data = JSON.parse(document.getElementById("execution-data").textContent);
const root = document.querySelector("[data-execution]");
const path = `/api/v1/executions/${encodeURIComponent(data.id)}`;
const POLL_MS = 1200;
const MEDIA = new Set(["image", "vector", "video"]);
const BADGES = { completed: "badge-success", failed: "badge-danger", cancelled: "badge-warning", pending: "", skipped: "" };
const WORDS = {
  pending: "Waits for the step before",
  queued: "Waiting for a worker",
  running: "Working",
  completed: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
  skipped: "Skipped",
};
// A cut-out (and what is traced from one) is mostly transparent: shown on a checkerboard.
const cutOut = (step) => step.operation === "remove-background" || step.output?.type === "vector";
const active = (status) => status === "queued" || status === "running";
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
// The running step's stage in words, from the last progress event about it.
const stages = new Map();
let current = null;

// --- Following -------------------------------------------------------------------------

/** Follows the run until it ends; returns a function that stops following. */
function followExecution({ onBody, onProgress }) {
  let stopped = false;
  let source = null;
  let timer = null;
  let stepJob = null;
  let stopStep = null;

  const stop = () => {
    stopped = true;
    source?.close();
    source = null;
    clearTimeout(timer);
    stopStep?.();
  };
  const take = (body, via) => {
    if (stopped) return;
    onBody(body, via);
    if (isFinished(body.status)) stop();
  };
  // While polling, the running step's job tells its stage and progress over its own stream.
  const watchStep = (body) => {
    const running = body.steps.find((s) => s.job && active(s.status));
    const job = running ? running.job : null;
    if (job === stepJob) return;
    stopStep?.();
    stopStep = null;
    stepJob = job;
    if (!job) return;
    stopStep = follow(job, {
      onUpdate: (update) => {
        if (isFinished(update.status)) return; // the run's own body says what came next
        const status = update.status === "generating" ? "running" : update.status;
        onProgress({ ...update, number: running.number, job, status }, "poll");
      },
    });
  };
  const poll = async () => {
    if (stopped) return;
    try {
      const body = await get(path);
      take(body, "poll");
      if (stopped) return;
      watchStep(body);
    } catch (error) {
      if (error.status === 404) { stop(); return; }
      // A network blip or a rate limit: keep trying.
    }
    timer = setTimeout(poll, POLL_MS);
  };
  const stream = () => {
    let opened = false;
    source = new EventSource(`${path}/events`);
    source.addEventListener("open", () => { opened = true; });
    source.addEventListener("execution", (event) => { opened = true; take(JSON.parse(event.data), "sse"); });
    source.addEventListener("progress", (event) => { opened = true; onProgress(JSON.parse(event.data), "sse"); });
    for (const name of ["completed", "failed", "cancelled"]) {
      source.addEventListener(name, (event) => take(JSON.parse(event.data), "sse"));
    }
    source.addEventListener("error", () => {
      // EventSource reconnects by itself while the stream lives; if it never opened, or the
      // server closed it for good, poll instead.
      if (!opened || source?.readyState === EventSource.CLOSED) {
        source?.close();
        source = null;
        if (!stopped) poll();
      }
    });
  };

  if (typeof EventSource !== "undefined") stream();
  else poll();
  return stop;
}

// --- Showing ---------------------------------------------------------------------------

function badge(element, status) {
  element.className = `badge ${BADGES[status] ?? "badge-accent"}`;
  element.textContent = status.charAt(0).toUpperCase() + status.slice(1);
}

function setProgress(card, percent, label, eta) {
  card.querySelector("[data-step-progress]").value = percent;
  card.querySelector("[data-step-percent]").textContent = `${percent}%`;
  card.querySelector("[data-step-label]").textContent = label;
  card.querySelector("[data-step-eta]").textContent = eta > 0 ? ` · about ${eta} s left` : "";
}

function log(card, percent, via) {
  if (!via) return;
  card.dataset.via = via;
  const seen = card.dataset.progressLog ? card.dataset.progressLog.split(",") : [];
  if (seen[seen.length - 1] !== String(percent)) seen.push(String(percent));
  card.dataset.progressLog = seen.join(",");
}

function media(card, step) {
  const box = card.querySelector("[data-step-media]");
  const output = step.output || {};
  const key = `${step.status}:${output.id || ""}`;
  if (box.dataset.shown === key) return;
  box.dataset.shown = key;
  if (MEDIA.has(output.type)) {
    const src = output.type === "vector" ? output.url : output.thumbnail_url || output.url;
    box.innerHTML = `<a href="/gallery/${encodeURIComponent(step.job)}/" aria-label="Open the result of step ${step.number} in the gallery"><img src="${escapeHtml(src)}" alt="" width="96" height="96"${cutOut(step) ? ' class="checker"' : ""}></a>`;
  } else if (output.type === "style") {
    box.innerHTML = icon("palette", "icon icon-lg");
  } else if (active(step.status)) {
    box.innerHTML = '<span class="spinner" aria-hidden="true"></span>';
  } else if (step.status === "failed" || step.status === "cancelled") {
    box.innerHTML = icon("ban", "icon icon-lg");
  }
}

function showStep(step, via) {
  const card = root.querySelector(`[data-step="${step.number}"]`);
  if (!card) return;
  card.dataset.status = step.status;
  badge(card.querySelector("[data-step-badge]"), step.status);
  const label = step.status === "running" ? stages.get(step.number) || WORDS.running : WORDS[step.status] || step.status;
  setProgress(card, step.progress, label, 0);
  if (step.status === "running" || step.status === "completed") log(card, step.progress, via);
  card.querySelector("[data-step-charge]").textContent = step.charged ? `Charged ${plural(step.charged, "credit")}` : plural(step.cost, "credit");
  media(card, step);
  const output = step.output || {};
  card.querySelector("[data-step-output]").textContent = output.type === "style" ? `Made the style “${output.name}”` : "";
  const error = card.querySelector("[data-step-error]");
  error.textContent = step.error || "";
  error.hidden = !step.error;
  const job = card.querySelector("[data-step-job]");
  job.hidden = !step.job;
  if (step.job) job.href = `/gallery/${encodeURIComponent(step.job)}/`;
}

function showResult(body) {
  const section = root.querySelector("[data-result]");
  const featured = [...body.steps].reverse().find((s) => MEDIA.has(s.output?.type));
  if (body.status !== "completed" || !featured) {
    section.hidden = true;
    return;
  }
  const output = featured.output;
  const viewer = section.querySelector("[data-result-media]");
  if (viewer.dataset.shown === output.id) return;
  viewer.dataset.shown = output.id;
  const label = `The result of step ${featured.number}`;
  viewer.innerHTML = output.type === "video"
    ? `<video src="${escapeHtml(output.url)}" poster="${escapeHtml(output.thumbnail_url)}" controls playsinline preload="metadata" width="${output.width}" height="${output.height}" aria-label="${label}"></video>`
    : `<img src="${escapeHtml(output.url)}" alt="${label}" width="${output.width}" height="${output.height}" data-content-type="${escapeHtml(output.content_type || "")}"${cutOut(featured) ? ' class="checker"' : ""}>`;
  section.querySelector("[data-result-open]").href = output.url;
  section.hidden = false;
}

function line(body) {
  const count = body.steps.length;
  const step = body.steps[body.currentStep - 1];
  if (active(body.status)) return `Step ${body.currentStep} of ${count} running${step ? `: ${step.name}` : ""}`;
  if (body.status === "completed") return `All ${count} steps done`;
  if (body.status === "failed") return `Stopped at step ${body.currentStep}: it failed`;
  return `Cancelled at step ${body.currentStep}`;
}

// --- The run's log ------------------------------------------------------------------------

const LOG_BADGES = { failed: " badge-danger", completed: " badge-success" };
const stepStates = (body) => body.steps.map((s) => s.status).join();

/** Reads the run's log again (a step started or ended) and shows its lines. */
async function refreshLog() {
  const rows = document.querySelector("[data-job-log] [data-log-rows]");
  if (!rows) return;
  try {
    const { entries } = await get(`${path}/logs`);
    rows.innerHTML = entries
      .map((entry) => `<tr><td class="when"><time data-local-clock datetime="${escapeHtml(entry.at)}"></time></td><td><span class="badge${LOG_BADGES[entry.event] || ""}">${escapeHtml(entry.event)}</span></td><td class="what">${escapeHtml(entry.message)}</td></tr>`)
      .join("");
    localClock(rows);
  } catch {
    // The log is a record, not the run: the steps above keep showing it as it goes.
  }
}

function showBody(body, via) {
  const was = current;
  current = body;
  root.dataset.status = body.status;
  badge(root.querySelector("[data-exec-badge]"), body.status);
  const attempt = root.querySelector("[data-exec-attempt]");
  attempt.hidden = body.attempt < 2;
  attempt.textContent = `Attempt ${body.attempt}`;
  root.querySelector("[data-exec-progress]").value = body.progress;
  root.querySelector("[data-exec-percent]").textContent = `${body.progress}%`;
  const status = root.querySelector("[data-exec-line]");
  const words = line(body);
  if (status.textContent !== words) status.textContent = words; // a live region: only changes
  const error = root.querySelector("[data-exec-error]");
  error.hidden = !body.error || body.status === "cancelled";
  error.querySelector("[data-exec-error-text]").textContent = body.error ? `${body.error} ` : "";
  for (const [key, value] of Object.entries(body.credits)) {
    const cell = root.querySelector(`[data-credit="${key}"]`);
    if (cell) cell.textContent = value;
  }
  for (const step of body.steps) showStep(step, via);
  root.querySelector('[data-exec-action="cancel"]').hidden = !active(body.status);
  const retry = root.querySelector('[data-exec-action="retry"]');
  retry.hidden = !body.retry_possible;
  if (body.retry_possible) {
    // A retry resumes at the first step not completed and holds the price of the rest.
    const rest = body.steps.filter((s) => s.status !== "completed");
    const cost = rest.reduce((sum, s) => sum + s.cost, 0);
    retry.querySelector("[data-retry-label]").textContent = `Retry from step ${rest[0]?.number ?? body.currentStep} · holds ${plural(cost, "credit")}`;
  }
  showResult(body);
  if (was && was.status !== body.status && isFinished(body.status)) refreshCredits();
  if (was && stepStates(was) !== stepStates(body)) refreshLog();
}

function showProgress(update, via) {
  if (!current) return;
  const step = current.steps.find((s) => s.number === update.number);
  if (!step || isFinished(step.status)) return;
  if (update.label) stages.set(update.number, update.label);
  step.status = update.status === "queued" ? "queued" : "running";
  step.progress = Math.max(0, Math.min(100, update.progress || 0));
  const card = root.querySelector(`[data-step="${update.number}"]`);
  card.dataset.status = step.status;
  badge(card.querySelector("[data-step-badge]"), step.status);
  setProgress(card, step.progress, update.label || WORDS[step.status], update.estimated_remaining);
  log(card, step.progress, via);
  // The whole run: the mean of its steps, as the API computes it.
  const overall = Math.round(current.steps.reduce((sum, s) => sum + s.progress, 0) / current.steps.length);
  root.querySelector("[data-exec-progress]").value = overall;
  root.querySelector("[data-exec-percent]").textContent = `${overall}%`;
}

// --- Actions ---------------------------------------------------------------------------

let stopFollowing = () => {};

function start() {
  stopFollowing();
  stopFollowing = followExecution({ onBody: showBody, onProgress: showProgress });
}

root.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-exec-action]");
  if (!button) return;
  const action = button.dataset.execAction;
  if (action === "cancel") {
    const ok = await confirmDialog({
      title: "Cancel this run?",
      body: "The running step stops and no later step starts. Steps already done keep their results; the credits not used go back.",
      confirm: "Cancel the run",
      danger: true,
    });
    if (!ok) return;
  }
  button.disabled = true;
  try {
    const body = await post(`${path}/${action}`);
    showBody(body, "action");
    refreshCredits();
    if (action === "retry") {
      toast("Resumed: the finished steps are kept.", "success");
      start();
    } else {
      toast("Cancelled; the credits not used are back.", "success");
    }
  } catch (error) {
    toast(explain(error), "error");
  } finally {
    button.disabled = false;
  }
});

if (active(data.status)) start();
