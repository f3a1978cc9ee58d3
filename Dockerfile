FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir . \
 && DEBUG=True python manage.py collectstatic --noinput \
 && useradd --create-home scheduler
USER scheduler
EXPOSE 8000
CMD ["gunicorn", "scheduler_site.wsgi", "--workers", "2", "--threads", "4", "--bind", "0.0.0.0:8000"]
