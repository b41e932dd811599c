// Operations on a picture (vectorize, remove background, upscale…) from its page: each button
// starts a job through the API, which then shows its own progress row until its result (or
// why there is none) is there. Used by a generation's page and an asset's page.

import { post, explain } from "./api.js";
import { follow, isFinished } from "./jobs.js";
import { escapeHtml, icon, refreshCredits, toast } from "./ui.js";

const TIMES = "\u00d7";
const resultUrl = (id) => `/gallery/${encodeURIComponent(id)}/`;

function jobRow(op, accepted) {
  const row = document.createElement("li");
  row.className = "op-job";
  row.dataset.job = accepted.id;
  row.dataset.status = accepted.status;
  row.dataset.progressLog = "";
  row.innerHTML = `
    <div class="op-thumb" data-thumb><span class="spinner" aria-hidden="true"></span></div>
    <div class="grow">
      <div class="op-name">${escapeHtml(op.label)}</div>
      <progress max="100" value="0" aria-label="Progress of ${escapeHtml(op.label)}"></progress>
      <div class="op-stage"><span data-label>Waiting for a worker</span> · <span data-percent>0%</span></div>
    </div>
    <div data-open></div>`;
  return row;
}

function showProgress(row, job, via) {
  // What arrived and how, for people who want to know (and for the tests).
  row.dataset.via = via || "";
  row.dataset.progressLog += (row.dataset.progressLog ? "," : "") + (job.progress || 0);
  if (isFinished(job.status)) return;
  row.dataset.status = job.status;
  const percent = Math.max(0, Math.min(100, job.progress || 0));
  row.querySelector("progress").value = percent;
  row.querySelector("[data-percent]").textContent = `${percent}%`;
  if (job.label) row.querySelector("[data-label]").textContent = job.label;
}

function showResult(row, op, job) {
  row.dataset.status = job.status;
  row.querySelector("progress")?.remove();
  const stage = row.querySelector(".op-stage");
  if (job.status === "completed") {
    const file = (job.files || [])[0] || {};
    // An SVG is shown as itself; other results by their thumbnail.
    const src = file.content_type === "image/svg+xml" ? file.url : file.thumbnail_url || file.url;
    const thumb = row.querySelector("[data-thumb]");
    thumb.classList.add("checker"); // cut-outs are mostly transparent
    thumb.innerHTML = `<img src="${escapeHtml(src)}" alt="Result of ${escapeHtml(op.label)}" width="48" height="48" data-content-type="${escapeHtml(file.content_type || "")}">`;
    stage.textContent = file.width ? `Done · ${file.width} ${TIMES} ${file.height}` : "Done";
    row.querySelector("[data-open]").innerHTML = `<a class="btn btn-sm" href="${resultUrl(job.id)}">${icon("external-link")}Open</a>`;
  } else {
    row.querySelector("[data-thumb]").innerHTML = icon("ban");
    stage.textContent = `${job.status === "failed" ? "Did not work out" : "Cancelled"}${job.error ? `: ${job.error}` : ""}. The credits were given back.`;
    row.querySelector("[data-open]").innerHTML = `<a class="btn btn-sm btn-ghost" href="${resultUrl(job.id)}">Details</a>`;
  }
}

async function start(root, button, { source, operations, project }) {
  const op = operations[Number(button.dataset.operation)];
  const problem = root.querySelector("[data-op-error]");
  if (problem) problem.textContent = "";
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const filed = project();
    const body = { source, ...(filed ? { project: filed } : {}), ...(op.body || {}) };
    const accepted = await post(`/api/v1/studio/${op.path}`, body);
    const row = jobRow(op, accepted);
    root.querySelector("[data-op-jobs]").prepend(row);
    refreshCredits();
    follow(accepted.id, {
      onUpdate: (job, via) => showProgress(row, job, via),
      onDone: (job) => {
        showResult(row, op, job);
        refreshCredits();
      },
      onGone: () => row.remove(),
    });
  } catch (error) {
    if (problem) problem.textContent = explain(error);
    else toast(explain(error), "error");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/**
 * The operation buttons in `root` (the partial studio/partials/operations.html) run
 * `operations[i]` ({path, label, body}) on `source`; `project()` says where results are filed
 * (null: where the API files them).
 */
export function setupOperations(root, { source, operations = [], project = () => null }) {
  if (!root) return;
  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-operation]");
    if (button && !button.disabled) start(root, button, { source, operations, project });
  });
}
