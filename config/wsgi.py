import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Only servers import this module: start the in-process workers of the embedded mode here,
# not in AppConfig.ready(), which also runs for migrate, shell and tests.
from config.embedded import start_embedded_worker  # noqa: E402

start_embedded_worker()
