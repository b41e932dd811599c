from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Template pipelines"

    def ready(self) -> None:
        from pipelines.services.executions import on_job_finished
        from studio.signals import job_finished

        # A step's job finishing moves its execution on (in the same transaction).
        job_finished.connect(on_job_finished, dispatch_uid="pipelines.on_job_finished")
