import os

from django.core.asgi import get_asgi_application

from simrenew.kit.tracing import configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
configure_tracing()  # as in wsgi.py: once per process, before the application is built
application = get_asgi_application()
