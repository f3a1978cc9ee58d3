from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the credentials_rotated receiver in every process, web and worker.
        # The reminders module holds its own beat task.
        from bookings import reminders, signals, tasks  # noqa: F401
