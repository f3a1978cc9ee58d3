FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
# Static files are collected with production settings (hashed names for whitenoise); the
# throwaway secrets only let settings load at build time and are not in the image's env.
RUN pip install --no-cache-dir -e . \
 && DEBUG=False SECRET_KEY=build-only-not-a-secret-0123456789-abcdefghijklmnopqrstuv \
    FERNET_KEYS=kQbTg0mK3DduLQYQ1t4fIWSgmKxOSxZ6bq0o8Gw5eDs= STATIC_ROOT=/app/var/static \
    python manage.py collectstatic --noinput \
 && useradd --create-home scheduler && chown -R scheduler /app/var
USER scheduler
EXPOSE 8000
CMD ["gunicorn", "scheduler_site.wsgi", "--workers", "2", "--threads", "4", "--bind", "0.0.0.0:8000"]
