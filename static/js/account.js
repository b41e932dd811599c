// The account page: a new webhook's secret is shown once, in a dialog, before the list reloads;
// a download of one's data is prepared and followed until its link is ready; deleting the
// account asks for the password in a confirmation first.

import { ApiError, explain, get, post } from "./api.js";
import { confirmDialog, escapeHtml, icon, sizeLabel, toast } from "./ui.js";

const form = document.getElementById("webhook-form");
const dialog = document.getElementById("secret-dialog");

form?.addEventListener("api:success", (event) => {
  event.preventDefault();
  document.getElementById("webhook-secret").textContent = event.detail.secret;
  dialog.showModal();
});
dialog?.querySelector("[data-close]").addEventListener("click", () => dialog.close());
dialog?.addEventListener("close", () => window.location.reload());

// --- Download your data ----------------------------------------------------------------------

const exportCard = document.getElementById("data-export");
const POLL_MS = 1500; // how often a preparing export is asked about
const BUSY = new Set(["queued", "running"]);
const longDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function plural(count, one, many) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

function contentsLine(contents) {
  if (!contents) return "";
  return [
    plural(contents.files, "file", "files"),
    plural(contents.generations, "generation", "generations"),
    plural(contents.ledgerEntries, "ledger entry", "ledger entries"),
  ].join(" · ");
}

function timeTag(iso) {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(longDate.format(new Date(iso)))}</time>`;
}

function exportState(item) {
  if (BUSY.has(item.status)) {
    const words = item.status === "queued" ? "Waiting for a worker…" : "Preparing your download…";
    return `<div class="export-busy" data-export-status="${item.status}">
        <div class="row"><span class="spinner" aria-hidden="true"></span><strong>${words}</strong></div>
        <progress aria-label="Preparing your data"></progress>
        <p class="hint mb-0">You can leave this page: the export goes on, and its link shows here when it is ready.</p>
      </div>`;
  }
  if (item.status === "completed" && item.url) {
    return `<div class="alert alert-success" data-export-status="completed">${icon("circle-check")}
        <div class="grow"><strong>Your data is ready</strong><p>${escapeHtml(contentsLine(item.contents))} · ${escapeHtml(sizeLabel(item.size))}</p></div>
      </div>
      <div class="row mt-3">
        <a class="btn btn-primary" href="${escapeHtml(item.url)}" download data-export-download>${icon("download")}Download ZIP</a>
        <span class="hint">The link works until ${timeTag(item.expiresAt)}.</span>
      </div>`;
  }
  if (item.status === "failed") {
    return `<div class="alert alert-danger" data-export-status="failed">${icon("triangle-alert")}
        <div class="grow"><strong>The export could not be prepared</strong><p>Try again; if it fails again, tell support (export ${escapeHtml(item.id)}).</p></div>
      </div>`;
  }
  return `<p class="muted mb-0" data-export-status="expired">Your export of ${timeTag(item.createdAt)} has expired and its file is deleted. Prepare a new one whenever you like.</p>`;
}

function showExport(item) {
  exportCard.querySelector("[data-export-state]").innerHTML = exportState(item);
  const start = exportCard.querySelector("[data-export-start]");
  const ready = item.status === "completed";
  start.disabled = BUSY.has(item.status);
  // Once a download is ready it is the main action; preparing another steps back.
  start.className = ready ? "btn mt-4" : "btn btn-primary mt-4";
  start.lastChild.textContent = ready ? "Prepare a new download" : "Prepare a download";
}

async function follow(id) {
  try {
    const item = await get(`/api/v1/users/export/${encodeURIComponent(id)}`);
    showExport(item);
    if (!BUSY.has(item.status)) {
      if (item.status === "completed") toast("Your data is ready to download.", "success");
      return;
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return;
    // A network blip: keep asking, the export goes on without us.
  }
  setTimeout(() => follow(id), POLL_MS);
}

async function startExport(button) {
  button.disabled = true;
  try {
    const item = await post("/api/v1/users/export");
    showExport(item);
    follow(item.id);
  } catch (error) {
    if (error instanceof ApiError && error.code === "EXPORT_IN_PROGRESS" && error.details.id) {
      follow(error.details.id); // one is already on its way (from another tab): show that one
      return;
    }
    toast(explain(error), "error");
    button.disabled = false;
  }
}

if (exportCard) {
  const latest = JSON.parse(document.getElementById("account-data").textContent).export;
  if (latest) {
    showExport(latest);
    if (BUSY.has(latest.status)) follow(latest.id);
  }
  exportCard.querySelector("[data-export-start]").addEventListener("click", (event) => {
    startExport(event.currentTarget);
  });
}

// --- Delete account --------------------------------------------------------------------------

// Not `required`: the dialog's Cancel submits its form, which an empty required field blocks.
const PASSWORD_FIELD = `<div class="field mt-3">
    <label for="delete-password">Your password</label>
    <input class="input" id="delete-password" type="password" autocomplete="current-password" maxlength="128">
  </div>`;

async function deleteAccount() {
  const asked = confirmDialog({
    title: "Delete your account?",
    body: "This cannot be undone. Running jobs are cancelled, and your results, uploads, templates and webhooks are deleted for good. Type your password to confirm.",
    confirm: "Delete my account",
    danger: true,
    extra: PASSWORD_FIELD,
  });
  const field = document.getElementById("delete-password");
  field.focus();
  // Enter in the field confirms (the dialog's own form would take it as Cancel).
  field.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    field.closest("dialog").querySelector("[data-ok]").click();
  });
  const confirmed = await asked;
  const password = field.value;
  field.value = "";
  if (!confirmed) return;
  if (!password) {
    toast("Type your password to delete the account.", "error");
    return;
  }
  const target = document.getElementById("delete-account-form");
  target.elements.password.value = password;
  target.submit(); // the page deletes, signs this browser out and says goodbye
}

document.querySelector("[data-delete-account]")?.addEventListener("click", deleteAccount);
