import os

from django.core.wsgi import get_wsgi_application

from simrenew.kit.tracing import configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
# gunicorn (`simrenew serve`, without --preload) imports this module in each worker after it forks,
# so each worker starts its own span export thread. Before the application: the Django
# instrumentation adds its middleware to the settings the application is built from.
configure_tracing()
application = get_wsgi_application()
