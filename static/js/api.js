// Calls to the JSON API from pages: the session cookie plus the CSRF token, the same
// endpoints and rules as any API client. Failures arrive as ApiError in the API's error format.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
// The organization chosen in the header's switcher: the API makes and lists work there too.
export const workspace = () => document.querySelector('meta[name="cf-workspace"]')?.content || "";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `Request failed (${status})`);
    this.status = status;
    this.code = (body && body.code) || "ERROR";
    this.details = (body && body.details) || {};
    this.requestId = body && body.requestId;
  }
}

/** Human wording for the errors people meet; the server's message otherwise. */
export function explain(error) {
  if (!(error instanceof ApiError)) return "Could not reach CraftFrame. Check your connection and try again.";
  switch (error.code) {
    case "INSUFFICIENT_CREDITS": {
      const { required, available, limit, spent } = error.details;
      if (limit !== undefined) {
        return `This would take you past your monthly limit in this organization: ${spent} of ${limit} credits spent, this needs ${required}.`;
      }
      return required !== undefined
        ? `Not enough credits: this needs ${required} and you have ${available}.`
        : error.message;
    }
    case "RATE_LIMIT_EXCEEDED": {
      const wait = error.details.retryAfter;
      return wait ? `Slow down a little: try again in ${wait} s.` : "Too many requests; try again shortly.";
    }
    case "UNAUTHORIZED":
      return "Your session has ended. Sign in again.";
    case "INTERNAL_ERROR":
      return `Something went wrong on our side (reference ${error.requestId}).`;
    default:
      return error.message;
  }
}

export async function api(method, path, body, { form = false, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken(), ...extra };
  if (workspace()) headers["X-Organization"] = workspace();
  let payload;
  if (form) {
    payload = body; // FormData: the browser sets the multipart boundary
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (cause) {
    throw new ApiError(0, { error: "Could not reach CraftFrame. Check your connection.", code: "NETWORK" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) {
    if (response.status === 413 && !data) {
      data = { error: "That file is too large.", code: "PAYLOAD_TOO_LARGE" };
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
