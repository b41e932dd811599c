"""Configuration comes from the environment; a bad value stops start-up and names itself."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"SECRET_KEY": "a-long-enough-secret-key-for-the-settings-tests-0123456789"}
SCRIPT = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'], "
    "settings.DRAMATIQ_BROKER['BROKER'], settings.STORAGES['default']['BACKEND'])"
)


def start(tmp_path, script: str = SCRIPT, **env) -> subprocess.CompletedProcess:
    """Load config.settings in a fresh interpreter with only `env` configured, and run
    `script` there."""
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_defaults_need_nothing_but_a_secret(tmp_path):
    result = start(tmp_path, **GOOD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "django.core.cache.backends.db.DatabaseCache",
        "dramatiq.brokers.stub.StubBroker",
        "django.core.files.storage.FileSystemStorage",
    ]


def test_production_services_come_from_urls(tmp_path):
    result = start(
        tmp_path,
        **GOOD,
        DATABASE_URL="postgres://u:p@db.internal:5432/craftframe",
        REDIS_URL="redis://cache.internal:6379/0",
        S3_BUCKET="media",
        S3_ENDPOINT_URL="http://s3.internal:8333",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "django.core.cache.backends.redis.RedisCache",
        "core.broker.WakingRedisBroker",
        "storages.backends.s3.S3Storage",
    ]


def test_rabbitmq_broker_from_its_own_url(tmp_path):
    result = start(tmp_path, **GOOD, DRAMATIQ_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/")
    assert result.returncode == 0, result.stderr
    assert "dramatiq.brokers.rabbitmq.RabbitmqBroker" in result.stdout


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = start(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_debug_may_run_without_a_secret_key(tmp_path):
    assert start(tmp_path, DEBUG="true").returncode == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://root@127.0.0.1/craftframe"),
        ("DATABASE_URL", "postgres://127.0.0.1:5432"),
        ("DATABASE_CONN_MAX_AGE", "sixty"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("DRAMATIQ_BROKER_URL", "kafka://127.0.0.1:9092"),
        ("JWT_ACCESS_LIFETIME", "forever"),
        ("JWT_REFRESH_LIFETIME", "-5d"),
        ("EMBEDDED_WORKER_THREADS", "0"),
        ("DEMO_CREDITS", "lots"),
        ("LOG_LEVEL", "LOUD"),
        ("S3_URL_EXPIRY", "0"),
        ("S3_ENDPOINT_URL", "ftp://s3.internal"),
        ("RATELIMIT_ENABLE", "sometimes"),
        ("IMAGE_PROVIDERS", "local,dall-e"),
        ("VIDEO_PROVIDERS", ""),
        ("HF_TIMEOUT", "soon"),
        ("HF_BASE_URL", "router.huggingface.co"),
        ("GENERATION_MAX_ATTEMPTS", "0"),
        ("PUBLIC_BASE_URL", "studio.example.com"),
        ("WEBHOOKS_ALLOW_PRIVATE", "perhaps"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(tmp_path, variable, value):
    env = {**GOOD, variable: value}
    if variable.startswith("S3_"):
        env["S3_BUCKET"] = "media"
    if variable == "DATABASE_CONN_MAX_AGE":  # only read for PostgreSQL
        env["DATABASE_URL"] = "postgres://u@db.internal/craftframe"
    result = start(tmp_path, **env)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured")
    assert variable in last_line


def test_s3_addressing_style_is_checked(tmp_path):
    result = start(tmp_path, **GOOD, S3_BUCKET="media", S3_ADDRESSING_STYLE="sideways")
    assert result.returncode != 0
    assert "S3_ADDRESSING_STYLE" in result.stderr.strip().splitlines()[-1]
