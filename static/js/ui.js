// Small shared pieces of the pages: toasts, confirmations, the header's credit count.

import { get, workspace } from "./api.js";

const ICONS = document.querySelector('meta[name="cf-icons"]')?.content || "";
const icon = (name, cls = "icon") =>
  `<svg class="${cls}" aria-hidden="true"><use href="${ICONS}#${name}"></use></svg>`;
export { icon };

export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** 2048 → "2.0 KB": file sizes as people read them. */
export function sizeLabel(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const glyph = kind === "error" ? "triangle-alert" : kind === "success" ? "circle-check" : "info";
  item.innerHTML = `${icon(glyph)}<div class="grow">${escapeHtml(message)}</div>
    <button type="button" class="btn btn-ghost btn-icon btn-sm" aria-label="Dismiss">${icon("x", "icon icon-sm")}</button>`;
  item.querySelector("button").addEventListener("click", () => item.remove());
  region.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 4500);
}

/** A modal confirmation; resolves true when confirmed. Uses the page's shared <dialog>. */
export function confirmDialog({ title, body = "", confirm = "Confirm", danger = false, extra = "" }) {
  const dialog = document.getElementById("confirm-dialog");
  dialog.querySelector("h2").textContent = title;
  dialog.querySelector("[data-body]").textContent = body;
  dialog.querySelector("[data-extra]").innerHTML = extra;
  const ok = dialog.querySelector("[data-ok]");
  ok.textContent = confirm;
  ok.className = danger ? "btn btn-danger-solid" : "btn btn-primary";
  return new Promise((resolve) => {
    const done = (value) => {
      dialog.removeEventListener("close", onClose);
      ok.removeEventListener("click", onOk);
      resolve(value);
    };
    const onOk = () => { dialog.returnValue = "ok"; dialog.close(); };
    const onClose = () => done(dialog.returnValue === "ok" ? dialog : false);
    dialog.returnValue = "";
    ok.addEventListener("click", onOk);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    ok.focus();
  });
}

/** Re-read the balance for the header pill (after a job was accepted or finished). */
export async function refreshCredits() {
  const pill = document.querySelector("[data-credits]");
  if (!pill) return null;
  try {
    const slug = workspace();
    const tokens = await get(slug ? `/api/v1/organizations/${encodeURIComponent(slug)}/tokens?limit=1` : "/api/v1/tokens?limit=1");
    pill.querySelector("[data-credits-value]").textContent = tokens.available.toLocaleString();
    document.dispatchEvent(new CustomEvent("credits:changed", { detail: tokens }));
    return tokens;
  } catch (e) {
    return null;
  }
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard", "success");
  } catch (e) {
    toast("Could not copy; select the text and copy it yourself.", "error");
  }
}

/** Clock times (`<time data-local-clock datetime=…>`, a job log's lines) in the visitor's own
 * time zone, to the second. */
export function localClock(root = document) {
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  root.querySelectorAll("time[data-local-clock]").forEach((el) => {
    const date = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(date.getTime())) el.textContent = clock.format(date);
  });
}

/** Dates (`<time data-local-date datetime=…>`) in the visitor's own day, short; the full date
 * and time on hover. */
export function localDates(root = document) {
  const short = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const long = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  root.querySelectorAll("time[data-local-date]").forEach((el) => {
    const date = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) return;
    el.textContent = short.format(date);
    el.title = long.format(date);
  });
}
