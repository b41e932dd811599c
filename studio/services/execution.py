"""Running a claimed generation: providers, files, completion. Called by the actors."""

import contextlib
import json
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded

from core import metrics
from core.logging import log_context
from studio import imaging, storage
from studio.engine import AllProvidersFailed, Attempt, run_chain
from studio.events import job_published, progress_published
from studio.models import Asset, AssetKind, Generation, Kind, LogEvent, Status, new_id
from studio.providers.base import Cancelled, ImageRequest, Output, VideoRequest
from studio.services.generations import (
    _emit,
    _spec_size,
    _worker_token,
    generation_claim,
    generation_fail,
)
from studio.services.joblog import (
    Line,
    attempt_lines,
    completed_line,
    job_log_write,
    stored_line,
)
from studio.services.operations import (
    VECTOR_GENERATIONS,
    SourceGone,
    operation_complete,
    operation_produce,
    vectorize_output,
)
from studio.signals import job_finished
from tokens.services import hold_capture

logger = logging.getLogger(__name__)

# Progress is written on every 5 points, but not more often than MIN_GAP, and at least every
# INTERVAL while reports come in; each write also renews the lease and is where a cancel is
# noticed. A job done within MIN_GAP of its claim writes no progress at all: it completes
# (or finds itself cancelled) with the one conditional update that finishes it.
PROGRESS_MIN_GAP = 0.1
PROGRESS_INTERVAL = 0.5


class ProgressReporter:
    """The Progress callable handed to providers: persists progress, renews the lease, and
    raises Cancelled when the row is no longer this worker's running job."""

    def __init__(self, generation: Generation, worker: str, *, start: int = 0, span: int = 95):
        self.generation_id, self.worker = generation.pk, worker
        self.attempts, self.started_at = generation.attempts, generation.started_at
        self.start, self.span = start, span
        self._last_written, self._last_at = 0, time.monotonic()

    def part(self, index: int, count: int) -> "ProgressReporter":
        """A reporter for part `index` of `count` (one image of several)."""
        child = ProgressReporter.__new__(ProgressReporter)
        child.__dict__.update(self.__dict__)
        child.start = self.start + self.span * index // count
        child.span = self.span // count
        child._parent = self
        return child

    def __call__(self, percent: int) -> None:
        self.at(self.start + self.span * max(0, min(100, percent)) // 100)

    def at(self, overall: int) -> None:
        """Report overall progress, written when the rules above say so."""
        root = getattr(self, "_parent", self)
        since = time.monotonic() - root._last_at
        if since < PROGRESS_MIN_GAP:
            return
        if overall - root._last_written < 5 and since < PROGRESS_INTERVAL:
            return
        root._last_written, root._last_at = overall, time.monotonic()
        self.write(overall)

    def write(self, overall: int) -> None:
        lease = timezone.now() + timedelta(seconds=settings.GENERATION_LEASE)
        still_mine = Generation.objects.filter(
            pk=self.generation_id, status=Status.GENERATING, worker=self.worker
        ).update(progress=overall, lease_until=lease)
        if not still_mine:
            raise Cancelled(self.generation_id)
        progress_published(
            generation_id=self.generation_id,
            progress=overall,
            attempts=self.attempts,
            started_at=self.started_at,
        )


class LeaseKeeper:
    """Renews the job's lease from a background thread while the worker is busy, so a single
    long provider call (a remote model may take minutes) never looks like a dead worker."""

    def __init__(self, generation_id: str, worker: str):
        self.generation_id, self.worker = generation_id, worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        interval = settings.GENERATION_LEASE / 3
        try:
            while not self._stop.wait(interval):
                lease = timezone.now() + timedelta(seconds=settings.GENERATION_LEASE)
                if not Generation.objects.filter(
                    pk=self.generation_id, status=Status.GENERATING, worker=self.worker
                ).update(lease_until=lease):
                    return  # cancelled or taken over: the next progress report stops the job
        except Exception:  # a database hiccup: progress reports renew the lease too
            logger.warning("lease renewal for %s failed", self.generation_id, exc_info=True)
        finally:
            connection.close()


def generation_run(*, generation_id: str) -> None:
    """Do the job behind one message. Safe to call twice for the same id."""
    with log_context(job_id=generation_id):  # on every log line of the run
        _run(generation_id)


def _run(generation_id: str) -> None:
    worker = _worker_token()
    generation = generation_claim(generation_id=generation_id, worker=worker)
    if generation is None:
        return
    attempts: list[Attempt] = []
    try:
        _execute(generation, worker, attempts)
    finally:  # however the run ended, its providers' failures count
        metrics.provider_errors(generation.kind, attempts)


def _execute(generation: Generation, worker: str, attempts: list[Attempt]) -> None:
    generation_id = generation.pk
    try:
        with LeaseKeeper(generation.pk, worker):
            produced = _produce(generation, worker, attempts)
            files = _store(generation, produced, attempts)
    except Cancelled:
        logger.info("generation %s stopped: cancelled or taken over", generation_id)
        job_log_write(generation.pk, attempt_lines(attempts))
        return
    except (AllProvidersFailed, SourceGone) as exc:
        job_log_write(generation.pk, attempt_lines(attempts))
        generation_fail(
            generation=generation,
            worker=worker,
            error=str(exc),
            attempts=[a.as_dict() for a in attempts],
        )
        return
    except storage.StorageUnavailable as exc:
        job_log_write(generation.pk, attempt_lines(attempts))
        generation_fail(
            generation=generation,
            worker=worker,
            error=f"Could not store the result: {exc}",
            code="SERVICE_UNAVAILABLE",
            attempts=[a.as_dict() for a in attempts],
        )
        return
    except TimeLimitExceeded:
        job_log_write(generation.pk, attempt_lines(attempts))
        generation_fail(
            generation=generation,
            worker=worker,
            error=f"Time limit of {settings.GENERATION_TIME_LIMIT[generation.kind]} s exceeded",
            attempts=[a.as_dict() for a in attempts],
        )
        return
    except Exception:  # a bug: fail the job (and refund) rather than leave it hanging
        logger.exception("generation %s crashed", generation_id)
        job_log_write(generation.pk, attempt_lines(attempts))
        generation_fail(
            generation=generation,
            worker=worker,
            error="Internal error while generating",
            code="INTERNAL_ERROR",
            attempts=[a.as_dict() for a in attempts],
        )
        return
    lines = [*attempt_lines(attempts), stored_line(files)]
    if not _complete(generation, worker, files, attempts):
        # Cancelled (or taken over) after its last progress check (a quick job has none):
        # the late result is discarded, never shown and never charged.
        logger.info(
            "generation %s stopped: cancelled or taken over; result discarded", generation_id
        )
        storage.delete_prefix(_attempt_prefix(generation))
        message = "The result came after the job was cancelled or taken over: discarded"
        job_log_write(generation.pk, [*lines, Line(LogEvent.DISCARDED, message)])
        return
    # After the commit: the next job (a template's next step) is on its way already.
    job_log_write(generation.pk, [*lines, completed_line(generation)])


def _requests(generation: Generation) -> list[ImageRequest | VideoRequest]:
    width, height = _spec_size(generation)
    params = generation.params
    if generation.kind == Kind.VIDEO:
        return [
            VideoRequest(
                prompt=generation.enhanced_prompt,
                width=width,
                height=height,
                duration=params["duration"],
                fps=params["fps"],
                seed=generation.seed,
                model=generation.model,
                style=generation.style,
                negative_prompt=generation.negative_prompt,
            )
        ]
    palette = tuple(tuple(c) for c in params.get("palette", ()))
    return [
        ImageRequest(
            prompt=generation.enhanced_prompt,
            width=width,
            height=height,
            seed=(generation.seed + index) % 2**32,
            model=generation.model,
            category=generation.category,
            style=generation.style,
            negative_prompt=generation.negative_prompt,
            steps=params.get("steps", 30),
            cfg_scale=params.get("cfg_scale", 7.5),
            palette=palette,
        )
        for index in range(params.get("num_images", 1))
    ]


def _produce(generation: Generation, worker: str, attempts: list[Attempt]) -> list:
    reporter = ProgressReporter(generation, worker, span=90)
    if generation.kind == Kind.OPERATION:
        produced = operation_produce(generation, reporter, attempts)
        reporter.at(92)
        return produced
    chain = settings.IMAGE_PROVIDERS if generation.kind == Kind.IMAGE else settings.VIDEO_PROVIDERS
    # A vector generation draws, then traces: the picture gets 60 % of the progress.
    vector = generation.operation in VECTOR_GENERATIONS
    requests = _requests(generation)
    produced = []
    for index, request in enumerate(requests):
        part = reporter.part(index, len(requests))
        drawing = (lambda pct, part=part: part(pct * 6 // 10)) if vector else part
        if generation.kind == Kind.IMAGE:
            call = lambda provider, progress, r=request: provider.generate_image(r, progress)  # noqa: E731
        else:
            call = lambda provider, progress, r=request: provider.generate_video(r, progress)  # noqa: E731
        item = run_chain(chain, call, drawing, attempts)
        if vector:
            tracing = lambda pct, part=part: part(60 + pct * 4 // 10)  # noqa: E731
            item.output = vectorize_output(item.output, generation.params, tracing)
        produced.append(item)
    reporter.at(92)
    return produced


def _attempt_prefix(generation: Generation) -> str:
    # Each attempt writes under its own folder: a worker that lost its lease and discards
    # its late result can never delete the files of the worker that took over.
    return f"{generation.storage_prefix}{generation.attempts}/"


def _store(generation: Generation, produced: list, attempts: list[Attempt]) -> list[dict]:
    """Write originals, thumbnails and metadata (concurrently; storage retries inside)."""
    prefix = _attempt_prefix(generation)
    many = len(produced) > 1
    files, writes = [], []
    for index, item in enumerate(produced):
        output: Output = item.output
        stem = f"image-{index + 1}" if many else "original"
        key = f"{prefix}{stem}.{EXTENSIONS[output.content_type]}"
        if output.content_type == "video/mp4":
            thumb, t_width, t_height = imaging.video_thumbnail_webp(output.data)
        else:  # an SVG brings the raster it was traced from
            thumb, t_width, t_height = imaging.thumbnail_webp(output.preview or output.data)
        thumb_key = f"{prefix}{'thumbnail-' + str(index + 1) if many else 'thumbnail'}.webp"
        writes += [(key, output.data, output.content_type), (thumb_key, thumb, "image/webp")]
        files.append(
            {
                "key": key,
                "content_type": output.content_type,
                "width": output.width,
                "height": output.height,
                "size": len(output.data),
                "thumbnail_key": thumb_key,
                "thumbnail_width": t_width,
                "thumbnail_height": t_height,
                "source": item.provider,
                "seconds": round(item.seconds, 3),
                **output.extra,
            }
        )
    metadata = {
        "id": generation.id,
        "type": generation.kind,
        "prompt": generation.prompt,
        "enhancedPrompt": generation.enhanced_prompt,
        "model": generation.model,
        "category": generation.category,
        "seed": generation.seed,
        "params": generation.params,
        "outputs": files,
        "attempts": [a.as_dict() for a in attempts],
    }
    writes.append(
        (f"{prefix}metadata.json", json.dumps(metadata, indent=2).encode(), "application/json")
    )
    try:
        storage.put_many(writes)
    except storage.StorageUnavailable:
        with contextlib.suppress(storage.StorageUnavailable):  # best effort: no orphan halves
            storage.delete_prefix(prefix)
        raise
    return files


EXTENSIONS = {"image/png": "png", "video/mp4": "mp4", "image/svg+xml": "svg"}


def _outputs_as_assets(generation: Generation, files: list[dict]) -> list[Asset]:
    """Every stored output is also an asset, filed where the job was."""
    return Asset.objects.bulk_create(
        Asset(
            id=new_id("ast"),
            user_id=generation.user_id,
            organization_id=generation.organization_id,
            project_id=generation.project_id,
            kind=AssetKind.GENERATED,
            generation=generation,
            name=f"{generation.id}-{index + 1}.{EXTENSIONS[item['content_type']]}",
            key=item["key"],
            thumbnail_key=item["thumbnail_key"],
            content_type=item["content_type"],
            width=item["width"],
            height=item["height"],
            size=item["size"],
        )
        for index, item in enumerate(files)
    )


def _complete(generation: Generation, worker: str, files: list[dict], attempts: list) -> bool:
    """Completed and charged in one transaction, if this worker still owns the running job."""
    result = dict(
        status=Status.COMPLETED,
        progress=100,
        outputs=files,
        metadata_key=f"{_attempt_prefix(generation)}metadata.json",
        source=files[0]["source"],
        generation_time=sum(f["seconds"] for f in files),
        provider_attempts=[a.as_dict() for a in attempts],
        finished_at=timezone.now(),
        lease_until=None,
        error="",
        error_code="",
    )
    with transaction.atomic():
        done = Generation.objects.filter(
            pk=generation.pk, status=Status.GENERATING, worker=worker
        ).update(**result)
        if not done:
            return False
        if generation.hold_id is not None:
            hold_capture(hold=generation.hold)  # loaded with the claim
        for field, value in result.items():
            setattr(generation, field, value)
        assets = _outputs_as_assets(generation, files)
        operation_complete(generation, files)
        job_finished.send(sender=Generation, generation=generation, assets=assets)
        metrics.job_finished(generation)
        _emit(generation, "generation.completed")
        job_published(generation)
    return True
