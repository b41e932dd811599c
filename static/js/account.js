// The account page: a new webhook's secret is shown once, in a dialog, before the list reloads.

const form = document.getElementById("webhook-form");
const dialog = document.getElementById("secret-dialog");

form?.addEventListener("api:success", (event) => {
  event.preventDefault();
  document.getElementById("webhook-secret").textContent = event.detail.secret;
  dialog.showModal();
});
dialog?.querySelector("[data-close]").addEventListener("click", () => dialog.close());
dialog?.addEventListener("close", () => window.location.reload());
