"""What other apps may hook into: a job reaching its end.

`job_finished` is sent inside the transaction that moved the job to completed, failed or
cancelled, after the job's own hold (if it has one) was captured or released. A job without
a hold of its own is paid for by whoever created it (a pipeline execution's step): the
receiver charges or releases in the same transaction, so the money moves with the status.
"""

from django.dispatch import Signal

# Sent with `generation` (its status already final) and, for a completed job, `assets`:
# the Asset rows of its outputs, just written.
job_finished = Signal()
