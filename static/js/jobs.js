// Following a job until it finishes: Server-Sent Events from
// /api/v1/studio/generation/<id>/events, or polling GET /studio/generation/<id> when a stream
// cannot open (or too many are open: a browser allows about six connections to one site).

import { get } from "./api.js";

const FINISHED = new Set(["completed", "failed", "cancelled"]);
const MAX_STREAMS = 4;
const POLL_MS = 1200;
let openStreams = 0;

/**
 * Calls onUpdate({status, progress, stage, label, estimated_remaining, …}, via) as the job
 * moves ("sse" or "poll"), and onDone(body) once with the GET body of the finished job.
 * Returns a function that stops following.
 */
export function follow(id, { onUpdate = () => {}, onDone = () => {}, onGone = () => {} } = {}) {
  let stopped = false;
  let source = null;
  let timer = null;

  const finish = (body, via) => {
    if (stopped) return;
    stop();
    onUpdate({ ...body, progress: body.status === "completed" ? 100 : body.progress }, via);
    onDone(body, via);
  };

  const poll = async () => {
    if (stopped) return;
    try {
      const body = await get(`/api/v1/studio/generation/${encodeURIComponent(id)}`);
      if (FINISHED.has(body.status)) return finish(body, "poll");
      onUpdate(body, "poll");
    } catch (error) {
      if (error.status === 404) { stop(); onGone(); return; }
      // A network blip or a rate limit: keep trying, a little slower.
    }
    timer = setTimeout(poll, POLL_MS);
  };

  const stream = () => {
    openStreams += 1;
    let opened = false;
    source = new EventSource(`/api/v1/studio/generation/${encodeURIComponent(id)}/events`);
    source.addEventListener("open", () => { opened = true; });
    source.addEventListener("progress", (event) => {
      opened = true;
      onUpdate(JSON.parse(event.data), "sse");
    });
    for (const name of FINISHED) {
      source.addEventListener(name, (event) => finish(JSON.parse(event.data), "sse"));
    }
    source.addEventListener("error", () => {
      // EventSource reconnects by itself (sending Last-Event-ID) while the page lives; if the
      // stream never opened, or the server closed it for good, poll instead.
      if (!opened || source.readyState === EventSource.CLOSED) {
        closeStream();
        if (!stopped) poll();
      }
    });
  };

  const closeStream = () => {
    if (source) {
      source.close();
      source = null;
      openStreams -= 1;
    }
  };

  const stop = () => {
    stopped = true;
    closeStream();
    clearTimeout(timer);
  };

  if (typeof EventSource !== "undefined" && openStreams < MAX_STREAMS) stream();
  else poll();
  return stop;
}

export const isFinished = (status) => FINISHED.has(status);
