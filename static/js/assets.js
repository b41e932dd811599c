// Assets and projects: upload by dropping or picking files (the server's answer next to each
// file), select items and move them to a project, a project's rename / duplicate / delete (keep
// or delete what it holds), and an asset's rename, filing and operations, each followed to its
// result. Every change is a call to the API; the pages only show what it answers.

import { api, ApiError, del, explain, post } from "./api.js";
import { clearErrors } from "./forms.js";
import { setupOperations } from "./operations.js";
import { confirmDialog, escapeHtml, icon, localDates, sizeLabel, toast } from "./ui.js";

const dataNode = document.getElementById("assets-data");
const data = dataNode ? JSON.parse(dataNode.textContent) : {};
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const projectPath = (id) => `/api/v1/projects/${encodeURIComponent(id)}`;
const TIMES = "\u00d7";

// --- A message that outlives a reload (the page is drawn again after most changes) ----------

const FLASH = "cf-assets-flash";

function flashThen(message, go) {
  try { sessionStorage.setItem(FLASH, message); } catch (e) { /* private mode: no message */ }
  go();
}

function showFlash() {
  let message = null;
  try {
    message = sessionStorage.getItem(FLASH);
    sessionStorage.removeItem(FLASH);
  } catch (e) { /* private mode */ }
  if (message) toast(message, "success");
}

// --- The count over a grid ("12 assets") ----------------------------------------------------

function changeCount(delta) {
  const count = document.getElementById("item-count");
  if (!count) return;
  const total = Math.max(0, Number(count.dataset.total || 0) + delta);
  count.dataset.total = String(total);
  count.textContent = plural(total, count.dataset.one, count.dataset.many);
}

// --- Upload ----------------------------------------------------------------------------------

/** What the server said is wrong with the file, in its own words. */
function uploadMessage(error) {
  if (error instanceof ApiError && error.code !== "UNAUTHORIZED") {
    const file = error.details && error.details.file;
    const text = file ? (Array.isArray(file) ? file.join(" ") : String(file)) : error.message;
    if (text) return /[.!?]$/.test(text) ? text : `${text}.`;
  }
  return explain(error);
}

function uploadRow(file) {
  const row = document.createElement("li");
  row.className = "upload-item";
  row.dataset.state = "uploading";
  row.innerHTML = `
    <div class="upload-thumb" data-thumb><span class="spinner" aria-hidden="true"></span></div>
    <div class="grow">
      <div class="upload-name truncate">${escapeHtml(file.name || "Unnamed file")}</div>
      <div class="upload-status" data-status>Uploading ${escapeHtml(sizeLabel(file.size))}…</div>
    </div>
    <div data-open></div>`;
  return row;
}

function assetTile(asset, projectName, showProject) {
  const title = asset.name || asset.id;
  const format = (data.formats || {})[asset.content_type] || asset.content_type;
  const dims = asset.width ? ` · ${asset.width} ${TIMES} ${asset.height}` : "";
  const tile = document.createElement("li");
  tile.className = "tile asset-tile is-new";
  tile.dataset.asset = asset.id;
  tile.dataset.project = asset.project || "";
  const chip = asset.project
    ? `${icon("folder", "icon icon-sm")}${escapeHtml(projectName)}`
    : '<span class="faint">No project</span>';
  tile.innerHTML = `
    <div class="tile-media">
      <img src="${escapeHtml(asset.thumbnail_url || asset.url)}" alt="" decoding="async" width="256" height="256">
      <div class="tile-badges"><span class="badge tile-type">${icon("upload")}Upload</span></div>
    </div>
    <label class="tile-select" title="Select to move">
      <input type="checkbox" data-select value="${escapeHtml(asset.id)}" aria-label="Select “${escapeHtml(title.slice(0, 60))}”">
    </label>
    <div class="tile-body">
      <a class="title truncate" href="/assets/${encodeURIComponent(asset.id)}/" title="${escapeHtml(title)}">${escapeHtml(title)}</a>
      <div class="meta"><span class="truncate">${escapeHtml(format + dims)}</span><span class="nowrap">${escapeHtml(sizeLabel(asset.size))}</span></div>
      ${showProject ? `<div class="meta"><span class="project-chip truncate" data-project-chip>${chip}</span></div>` : ""}
    </div>`;
  return tile;
}

function showInGrid(asset, projectName) {
  const grid = document.getElementById("asset-grid");
  if (!grid) return;
  grid.prepend(assetTile(asset, projectName, grid.dataset.showProject !== undefined));
  grid.hidden = false;
  const bar = document.querySelector("[data-move-bar]");
  if (bar) bar.hidden = false;
  document.querySelector("[data-empty]")?.remove();
  changeCount(1);
}

async function uploadFiles(uploader, files) {
  if (!files.length) return;
  const feedback = uploader.querySelector("[data-upload-feedback]");
  const list = uploader.querySelector("[data-upload-list]");
  const summary = uploader.querySelector("[data-upload-error]");
  const target = uploader.querySelector("[data-upload-project]");
  const project = target ? target.value : "";
  const projectName = target && target.selectedOptions ? target.selectedOptions[0].textContent : "";
  feedback.hidden = false;
  summary.textContent = "";
  list.querySelectorAll('[data-state]:not([data-state="uploading"])').forEach((row) => row.remove());
  const rows = files.map((file) => [file, uploadRow(file)]);
  rows.slice().reverse().forEach(([, row]) => list.prepend(row));
  const failed = [];
  // One at a time: each answer arrives next to its own file, in order.
  for (const [file, row] of rows) {
    const body = new FormData();
    body.append("file", file, file.name);
    if (project) body.append("project", project);
    try {
      const asset = await api("POST", "/api/v1/assets/upload", body, { form: true });
      row.dataset.state = "done";
      row.querySelector("[data-thumb]").innerHTML = `<img src="${escapeHtml(asset.thumbnail_url || asset.url)}" alt="" width="40" height="40">`;
      const dims = asset.width ? `${asset.width} ${TIMES} ${asset.height}, ` : "";
      row.querySelector("[data-status]").innerHTML = `${icon("circle-check", "icon icon-sm")}Uploaded · ${escapeHtml(dims + sizeLabel(asset.size))}`;
      row.querySelector("[data-open]").innerHTML = `<a class="btn btn-sm" href="/assets/${encodeURIComponent(asset.id)}/">Open</a>`;
      showInGrid(asset, projectName);
    } catch (error) {
      const message = uploadMessage(error);
      row.dataset.state = "failed";
      row.querySelector("[data-thumb]").innerHTML = icon("circle-x");
      row.querySelector("[data-status]").textContent = message;
      failed.push({ name: file.name, message });
    }
  }
  if (failed.length === 1 && rows.length === 1) {
    summary.textContent = `“${failed[0].name}” was not uploaded: ${failed[0].message} Nothing was stored.`;
  } else if (failed.length) {
    summary.textContent = `${failed.length} of ${rows.length} files were not uploaded (the reason is next to each); nothing of them was stored.`;
  } else {
    toast(rows.length === 1 ? "Uploaded." : `${rows.length} files uploaded.`, "success");
  }
}

function setupUploader(uploader) {
  const zone = uploader.querySelector("[data-dropzone]");
  const input = uploader.querySelector("[data-upload-input]");
  let busy = Promise.resolve();
  const send = (files) => {
    const picked = [...files]; // now: the input's FileList empties when it is reset below
    busy = busy.then(() => uploadFiles(uploader, picked));
  };
  input.addEventListener("change", () => {
    send(input.files);
    input.value = ""; // the same file may be picked again after a fix
  });
  let depth = 0; // dragenter/leave fire for every child crossed
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add("over");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
    if (files.length) send(files);
  });
  // A file dropped beside the box would make the browser open it and leave the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

// --- Select and move -------------------------------------------------------------------------

function setupMove() {
  const bar = document.querySelector("[data-move-bar]");
  const grid = document.querySelector("[data-select-grid]");
  if (!bar || !grid) return;
  const form = bar.querySelector("[data-move-form]");
  const status = bar.querySelector("[data-selected-count]");
  const submit = bar.querySelector("[data-move-submit]");
  const clear = bar.querySelector("[data-select-clear]");
  const all = bar.querySelector("[data-select-all]");
  const target = bar.querySelector("[data-move-project]");
  const boxes = () => [...grid.querySelectorAll("[data-select]")];
  const selected = () => boxes().filter((box) => box.checked).map((box) => box.value);

  const sync = () => {
    const count = selected().length;
    status.textContent = count ? `${count} selected` : "Select items to move them";
    submit.disabled = count === 0;
    clear.hidden = count === 0;
    all.hidden = count > 0 && count === boxes().length;
    bar.classList.toggle("has-selection", count > 0);
    boxes().forEach((box) => box.closest(".tile").classList.toggle("selected", box.checked));
  };
  grid.addEventListener("change", (event) => { if (event.target.matches("[data-select]")) sync(); });
  all.addEventListener("click", () => { boxes().forEach((box) => { box.checked = true; }); sync(); });
  clear.addEventListener("click", () => { boxes().forEach((box) => { box.checked = false; }); sync(); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ids = selected();
    if (!ids.length) return;
    const project = target.value || null;
    const name = target.selectedOptions[0].textContent;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      const result = await post("/api/v1/assets/move", { ids, project });
      // The grid shows one project (or none): what leaves it goes from the grid.
      const scope = bar.dataset.scope;
      let removed = 0;
      for (const id of ids) {
        const tile = grid.querySelector(`[data-asset="${CSS.escape(id)}"], [data-generation="${CSS.escape(id)}"]`);
        if (!tile) continue;
        if (scope && (project || "none") !== scope) {
          tile.remove();
          removed += 1;
          continue;
        }
        tile.dataset.project = project || "";
        tile.querySelector("[data-select]").checked = false;
        const chip = tile.querySelector("[data-project-chip]");
        if (chip) chip.innerHTML = project ? `${icon("folder", "icon icon-sm")}${escapeHtml(name)}` : '<span class="faint">No project</span>';
      }
      const what = plural(result.moved, "item", "items");
      const message = project ? `Moved ${what} to “${name}”.` : `Took ${what} out of their project.`;
      if (removed && !grid.querySelector(".tile")) {
        flashThen(message, () => window.location.reload()); // the empty state comes from the server
        return;
      }
      changeCount(-removed);
      toast(message, "success");
    } catch (error) {
      toast(explain(error), "error");
    } finally {
      submit.removeAttribute("aria-busy");
      sync();
    }
  });
  sync();
}

// --- Projects: new, rename, duplicate, delete -----------------------------------------------

function setupProjectDialog() {
  const dialog = document.getElementById("project-dialog");
  if (!dialog) return;
  const form = dialog.querySelector("form");
  const nameField = form.querySelector('[name="name"]');
  const descriptionField = form.querySelector('[name="description"]');
  let mode = "create";

  const open = (settings) => {
    mode = settings.mode;
    clearErrors(form);
    dialog.querySelector("h2").textContent = settings.title;
    dialog.querySelector("[data-dialog-intro]").hidden = mode !== "create";
    dialog.querySelector("[data-dialog-submit]").textContent = settings.submit;
    form.dataset.api = settings.api;
    form.dataset.method = settings.method;
    nameField.value = settings.name || "";
    descriptionField.value = settings.description || "";
    dialog.showModal();
    nameField.focus();
    nameField.select();
  };

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-project-new]")) {
      open({ mode: "create", title: "New project", submit: "Create project", api: "/api/v1/projects", method: "POST" });
      return;
    }
    const rename = event.target.closest("[data-project-rename]");
    if (rename) {
      open({
        mode: "rename",
        title: "Rename project",
        submit: "Save",
        api: projectPath(rename.dataset.projectRename),
        method: "PUT",
        name: rename.dataset.name,
        description: rename.dataset.description,
      });
    }
  });
  dialog.querySelector("[data-dialog-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("api:success", (event) => {
    event.preventDefault();
    const project = event.detail;
    dialog.close();
    if (mode === "create") {
      flashThen(`Project “${project.name}” created.`, () => window.location.assign(`/projects/${encodeURIComponent(project.id)}/`));
    } else {
      flashThen(`Renamed to “${project.name}”.`, () => window.location.reload());
    }
  });
}

async function duplicateProject(button) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const copy = await post(`${projectPath(button.dataset.projectDuplicate)}/duplicate`);
    const message = `Duplicated as “${copy.name}”, with ${plural(copy.assetCount, "asset", "assets")}.`;
    if (button.dataset.openCopy !== undefined) {
      flashThen(message, () => window.location.assign(`/projects/${encodeURIComponent(copy.id)}/`));
    } else {
      flashThen(message, () => window.location.reload());
    }
  } catch (error) {
    toast(explain(error), "error");
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function deleteChoices(assets, generations) {
  const holds = [assets && plural(assets, "asset", "assets"), generations && plural(generations, "generation", "generations")]
    .filter(Boolean)
    .join(" and ");
  if (!holds) return "";
  return `
    <fieldset class="choices">
      <legend>It holds ${escapeHtml(holds)}. What should happen to them?</legend>
      <label class="choice">
        <input type="radio" name="delete-contents" value="false" checked>
        <span><strong>Keep them</strong><span class="choice-note">They move out of the project and stay in Assets and the gallery.</span></span>
      </label>
      <label class="choice danger">
        <input type="radio" name="delete-contents" value="true">
        <span><strong>Delete them too</strong><span class="choice-note">Uploads and generations are deleted for good; running jobs are cancelled and their credits given back.</span></span>
      </label>
    </fieldset>`;
}

async function deleteProject(button) {
  const id = button.dataset.projectDelete;
  const assets = Number(button.dataset.assets || 0);
  const generations = Number(button.dataset.generations || 0);
  const extra = deleteChoices(assets, generations);
  const dialog = await confirmDialog({
    title: `Delete “${button.dataset.name}”?`,
    body: extra ? "" : "The project is empty: only the project itself goes.",
    confirm: "Delete project",
    danger: true,
    extra,
  });
  if (!dialog) return;
  const contents = dialog.querySelector('input[name="delete-contents"]:checked')?.value === "true";
  button.disabled = true;
  try {
    const result = await del(`${projectPath(id)}?delete_contents=${contents}`);
    const deleted = result.deleted.assets + result.deleted.generations;
    const moved = result.moved.assets + result.moved.generations;
    let message = `Project “${button.dataset.name}” deleted.`;
    if (deleted) message += ` ${plural(deleted, "item", "items")} deleted with it.`;
    if (moved) message += ` ${plural(moved, "item", "items")} kept, in no project now.`;
    const onItsPage = document.querySelector(`[data-project-page="${CSS.escape(id)}"]`);
    flashThen(message, () => (onItsPage ? window.location.assign("/projects/") : window.location.reload()));
  } catch (error) {
    toast(explain(error), "error");
    button.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const duplicate = event.target.closest("[data-project-duplicate]");
  if (duplicate && !duplicate.disabled) duplicateProject(duplicate);
  const remove = event.target.closest("[data-project-delete]");
  if (remove && !remove.disabled) deleteProject(remove);
});

// --- One asset: rename, file, operations -----------------------------------------------------

function setupAssetForms(detail) {
  const rename = document.getElementById("rename-form");
  rename?.addEventListener("api:success", (event) => {
    event.preventDefault();
    const name = event.detail.name || event.detail.id;
    detail.querySelector("[data-asset-title]").textContent = name;
    document.title = `${name} · CraftFrame`;
    toast(`Renamed to “${name}”.`, "success");
  });
  const file = document.getElementById("file-form");
  file?.addEventListener("api:success", (event) => {
    event.preventDefault();
    const select = file.querySelector("select");
    const name = select.selectedOptions[0].textContent;
    data.project = event.detail.project; // later results are filed with it
    const cell = detail.querySelector('[data-prop="project"]');
    if (cell) {
      cell.innerHTML = event.detail.project
        ? `<a href="/projects/${encodeURIComponent(event.detail.project)}/">${escapeHtml(name)}</a>`
        : "None";
    }
    toast(event.detail.project ? `Moved to “${name}”.` : "Taken out of its project.", "success");
  });
}

// --- Start -----------------------------------------------------------------------------------

showFlash();
localDates();
document.querySelectorAll("[data-uploader]").forEach(setupUploader);
setupMove();
setupProjectDialog();
const detail = document.querySelector("[data-asset-detail]");
if (detail) {
  setupAssetForms(detail);
  // Results are filed where their source is, so a board keeps what came of it.
  setupOperations(detail.querySelector("[data-operations]"), {
    source: data.id,
    operations: data.operations,
    project: () => data.project,
  });
}
