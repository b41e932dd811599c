"""The ceiling's actor: does nothing but say when it ran (bench/generation_bench.py)."""

import time

import dramatiq


@dramatiq.actor(queue_name="bench", max_retries=0)
def bench_noop(reply_to: str) -> None:
    # Tell the sender, through the broker's own Redis, when the message was executed.
    dramatiq.get_broker().client.rpush(reply_to, repr(time.time()))
