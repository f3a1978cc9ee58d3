from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the credentials_rotated receiver in every process, web and worker.
        # The reminders and webhooks modules hold their own tasks.
        from bookings import reminders, signals, tasks, webhooks  # noqa: F401
