// Loaded by every page: theme switch, mobile navigation, API forms, action buttons, copy
// buttons, local times. Page-specific modules import what they need from the others.

import { api, explain } from "./api.js";
import { enhanceForms } from "./forms.js";
import { confirmDialog, copyText, localClock, toast } from "./ui.js";

function setupTheme() {
  const button = document.querySelector("[data-theme-toggle]");
  if (!button) return;
  const sync = () => {
    const dark = document.documentElement.dataset.theme === "dark";
    button.setAttribute("aria-pressed", String(dark));
    button.querySelector("use").setAttribute("href", button.querySelector("use").getAttribute("href").replace(/#.*/, dark ? "#sun" : "#moon"));
    button.setAttribute("aria-label", dark ? "Switch to light theme" : "Switch to dark theme");
  };
  button.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("cf-theme", next); } catch (e) { /* private mode */ }
    sync();
  });
  sync();
}

function setupNav() {
  const toggle = document.querySelector("[data-nav-toggle]");
  const nav = document.getElementById("site-nav");
  if (!toggle || !nav) return;
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (nav.classList.contains("open")) {
      nav.classList.remove("open");
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
    document.querySelectorAll("details.user-menu[open]").forEach((menu) => {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", (event) => {
    document.querySelectorAll("details.user-menu[open]").forEach((menu) => {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
}

/** <button data-action="/api/v1/…" data-method="DELETE" data-confirm="…">: one API call. */
function setupActions() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || button.disabled) return;
    event.preventDefault();
    if (button.dataset.confirm) {
      const confirmed = await confirmDialog({
        title: button.dataset.confirm,
        body: button.dataset.confirmBody || "",
        confirm: button.dataset.confirmLabel || "Confirm",
        danger: button.dataset.danger !== undefined,
      });
      if (!confirmed) return;
    }
    button.disabled = true;
    try {
      const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
      const data = await api(button.dataset.method || "POST", button.dataset.action, body ?? (button.dataset.method === "DELETE" ? undefined : {}));
      const after = button.dataset.success || "reload";
      if (button.dataset.toast) toast(button.dataset.toast, "success");
      if (after === "reload") window.location.reload();
      else if (after.startsWith("redirect:")) window.location.assign(after.slice(9).replace("{id}", encodeURIComponent(data?.id || "")));
      else button.dispatchEvent(new CustomEvent("api:success", { detail: data, bubbles: true }));
    } catch (error) {
      toast(explain(error), "error");
    } finally {
      button.disabled = false;
    }
  });
}

function setupCopy() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = button.dataset.copyFrom ? document.querySelector(button.dataset.copyFrom) : null;
    copyText(source ? source.textContent.trim() : button.dataset.copy);
  });
}

function localTimes(root = document) {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  root.querySelectorAll("time[data-local]").forEach((el) => {
    const date = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(date.getTime())) el.textContent = format.format(date);
  });
}

setupTheme();
setupNav();
setupActions();
setupCopy();
enhanceForms();
localTimes();
localClock();
