from django.apps import AppConfig


class WebConfig(AppConfig):
    """The pages for employers, workers and arbiters: server-rendered, English and Kiswahili."""

    name = "web"
    verbose_name = "Web pages"
