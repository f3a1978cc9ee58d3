FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
# Static files are collected with production settings (hashed names for whitenoise). The
# secrets only let settings load for this one command: random ones made here and thrown
# away, so no key is published that a deployment could copy (the app refuses published keys
# with DEBUG off) and none is in the image's env or layers.
RUN pip install --no-cache-dir -e . \
 && DEBUG=False STATIC_ROOT=/app/var/static \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    FERNET_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput \
 && useradd --create-home scheduler && chown -R scheduler /app/var
USER scheduler
EXPOSE 8000
# Serving model, port and trusted proxy from gunicorn.conf.py and the environment
# (WEB_CONCURRENCY, WEB_THREADS, WORKER_CLASS, PORT). gunicorn believes X-Forwarded-Proto only
# from FORWARDED_ALLOW_IPS (default: 127.0.0.1,::1); docker-compose.yml names its nginx there
# and in TRUSTED_PROXIES.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "scheduler_site.wsgi"]
