"""Background jobs: loading dumps and training, run in-process or by Celery workers."""
