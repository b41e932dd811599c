import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from config.embedded import start_embedded_worker  # noqa: E402
from core.asgi import HandoffApplication  # noqa: E402

# Event streams are sent after Django has finished their request (core.asgi).
application = HandoffApplication(django_application)

start_embedded_worker()
