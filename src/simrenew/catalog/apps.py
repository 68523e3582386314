from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "simrenew.catalog"
    label = "catalog"
    verbose_name = "Catalog"
