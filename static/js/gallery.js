// The gallery (grid: star toggles, select two to compare, live progress of running jobs) and
// a generation's page (star, move, operations each followed to its result, live progress of
// the job itself). Every change goes through the API; the pages only show what it answers.

import { api, explain } from "./api.js";
import { follow, isFinished } from "./jobs.js";
import { setupOperations } from "./operations.js";
import { escapeHtml, icon, localDates, toast } from "./ui.js";

const dataNode = document.getElementById("gallery-data");
const data = dataNode ? JSON.parse(dataNode.textContent) : {};
const generationPath = (id) => `/api/v1/studio/generation/${encodeURIComponent(id)}`;

// --- Star / unstar (grid tiles and the detail page) ------------------------------------------

async function toggleStar(button) {
  const id = button.dataset.star;
  const starred = button.getAttribute("aria-pressed") !== "true";
  button.disabled = true;
  try {
    const body = await api("PATCH", generationPath(id), { starred });
    button.setAttribute("aria-pressed", String(body.starred));
    button.title = body.starred ? "Starred" : "Star";
    const label = button.querySelector("[data-star-label]");
    if (label) label.textContent = body.starred ? "Starred" : "Star";
    button.closest(".gallery-tile")?.classList.toggle("is-starred", body.starred);
    toast(body.starred ? "Starred." : "Star removed.", "success");
  } catch (error) {
    toast(explain(error), "error");
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-star]");
  if (button) toggleStar(button);
});

localDates();

// --- The filters: on a phone the selects fold behind a "Filters" button -------------------

function setupFilters() {
  const form = document.querySelector("[data-filters]");
  const toggle = form?.querySelector("[data-filter-toggle]");
  if (!toggle) return;
  form.classList.add("collapsible");
  const open = (value) => {
    form.classList.toggle("open", value);
    toggle.setAttribute("aria-expanded", String(value));
  };
  // Open from the start when one of the folded filters needs attention.
  open(Boolean(form.querySelector('.filter-more [aria-invalid="true"]')));
  toggle.addEventListener("click", () => open(!form.classList.contains("open")));
}
setupFilters();

// --- The grid --------------------------------------------------------------------------------

const grid = document.getElementById("gallery-grid");

function setupCompare() {
  const bar = document.querySelector("[data-compare-bar]");
  if (!bar || !grid) return;
  const link = bar.querySelector("[data-compare-link]");
  const status = document.getElementById("compare-status");
  const clear = bar.querySelector("[data-compare-clear]");
  const selected = []; // in the order they were picked: the first is A

  const sync = () => {
    const ready = selected.length === 2;
    bar.classList.toggle("ready", ready);
    clear.hidden = selected.length === 0;
    if (ready) {
      link.href = `/gallery/compare/?a=${encodeURIComponent(selected[0])}&b=${encodeURIComponent(selected[1])}`;
      link.removeAttribute("aria-disabled");
      status.textContent = "2 selected";
    } else {
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
      status.textContent = selected.length === 0
        ? "Select two to compare"
        : selected.length === 1
          ? "1 selected · pick one more"
          : `${selected.length} selected · compare takes exactly two`;
    }
  };

  grid.addEventListener("change", (event) => {
    const box = event.target.closest("[data-compare]");
    if (!box) return;
    const index = selected.indexOf(box.value);
    if (box.checked && index === -1) selected.push(box.value);
    if (!box.checked && index !== -1) selected.splice(index, 1);
    box.closest(".gallery-tile").classList.toggle("selected", box.checked);
    sync();
  });
  clear.addEventListener("click", () => {
    selected.length = 0;
    grid.querySelectorAll("[data-compare]:checked").forEach((box) => {
      box.checked = false;
      box.closest(".gallery-tile").classList.remove("selected");
    });
    sync();
  });
  // Back/forward restores the boxes' state: start from what the page shows.
  grid.querySelectorAll("[data-compare]:checked").forEach((box) => {
    selected.push(box.value);
    box.closest(".gallery-tile").classList.add("selected");
  });
  sync();
}

function statusBadge(tile, status) {
  let badge = tile.querySelector("[data-status-badge]");
  if (status === "completed") {
    badge?.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement("span");
    badge.dataset.statusBadge = "";
    tile.querySelector(".tile-badges").append(badge);
  }
  const classes = { failed: "badge-danger", cancelled: "badge-warning" };
  badge.className = `badge ${classes[status] || "badge-accent"}`;
  badge.textContent = status.charAt(0).toUpperCase() + status.slice(1);
}

function followTile(tile) {
  const id = tile.dataset.generation;
  follow(id, {
    onUpdate: (job) => {
      if (isFinished(job.status)) return;
      tile.dataset.status = job.status;
      statusBadge(tile, job.status);
      const percent = Math.max(0, Math.min(100, job.progress || 0));
      const bar = tile.querySelector("[data-running] progress");
      if (bar) bar.value = percent;
      const text = tile.querySelector("[data-percent]");
      if (text) text.textContent = `${percent}%`;
      if (job.label) tile.querySelector("[data-stage]").textContent = job.label;
    },
    onDone: (job) => {
      tile.dataset.status = job.status;
      statusBadge(tile, job.status);
      const media = tile.querySelector("[data-media]");
      const running = media.querySelector("[data-running]");
      if (job.status === "completed" && job.thumbnail_url) {
        const img = document.createElement("img");
        img.src = job.thumbnail_url;
        img.alt = "";
        img.width = 256;
        img.height = 256;
        img.decoding = "async";
        running?.replaceWith(img);
        if (job.type === "video") img.insertAdjacentHTML("afterend", `<span class="tile-play" aria-hidden="true">${icon("play")}</span>`);
      } else if (running) {
        running.outerHTML = `<div class="tile-failed">${icon("ban", "icon icon-lg")}<span class="small">${job.status === "failed" ? "Did not work out" : "Cancelled"}</span></div>`;
      }
    },
    onGone: () => tile.remove(),
  });
}

if (grid) {
  setupCompare();
  for (const id of data.active || []) {
    const tile = grid.querySelector(`[data-generation="${CSS.escape(id)}"]`);
    if (tile) followTile(tile);
  }
}

// --- A generation's page ---------------------------------------------------------------------

const detail = document.querySelector("[data-detail]");

function followThisJob() {
  const area = detail.querySelector("[data-progress-area]");
  if (!area) return;
  follow(data.id, {
    onUpdate: (job) => {
      if (isFinished(job.status)) return;
      const percent = Math.max(0, Math.min(100, job.progress || 0));
      area.querySelector("progress").value = percent;
      area.querySelector("[data-percent]").textContent = `${percent}%`;
      if (job.label) area.querySelector("[data-label]").textContent = job.label;
      const eta = job.estimated_remaining;
      area.querySelector("[data-eta]").textContent = eta > 0 ? ` · about ${eta} s left` : "";
      const badge = detail.querySelector("[data-status-badge]");
      if (badge) badge.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
    },
    // Finished: the page is drawn again from the server, with the result, timing, attempts
    // and the ledger entries it caused.
    onDone: () => window.location.reload(),
    onGone: () => window.location.assign("/gallery/"),
  });
}

function setupMove() {
  const form = document.getElementById("move-form");
  if (!form) return;
  form.addEventListener("api:success", (event) => {
    event.preventDefault();
    const select = form.querySelector("select");
    const option = select.selectedOptions[0];
    const cell = document.querySelector('[data-param="project"]');
    if (cell) {
      cell.innerHTML = select.value
        ? `<a href="/projects/${encodeURIComponent(select.value)}/">${escapeHtml(option.textContent)}</a>`
        : "None";
    }
    toast(select.value ? `Moved to “${option.textContent}”.` : "Taken out of its project.", "success");
  });
}

if (detail) {
  followThisJob();
  setupMove();
  setupOperations(detail.querySelector("[data-operations]"), { source: data.id, operations: data.operations });
}
