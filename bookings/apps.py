from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the credentials_rotated receiver in every process, web and worker.
        from bookings import signals, tasks  # noqa: F401
