"""Provisioning in the console. Django's admin autodiscovers this module; each use case keeps its
pages in a module of its own, registered by importing it here."""

from simrenew.provisioning import (
    admin_connections,  # noqa: F401 - registers the connection pages
    admin_line_orders,  # noqa: F401 - the network outbox: retry or resolve failed orders
    admin_profile_orders,  # noqa: F401 - SM-DP+ orders and download notices
)
