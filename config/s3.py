"""The S3 storage backend's options, built in one place for settings and for tests."""

from botocore.config import Config


def s3_storage(
    *,
    bucket: str,
    endpoint_url: str | None,
    access_key: str | None,
    secret_key: str | None,
    region: str = "us-east-1",
    addressing_style: str = "path",
    url_expiry: int = 3600,
    connect_timeout: int = 5,
    read_timeout: int = 60,
) -> dict:
    """STORAGES["default"] for django-storages' S3Storage."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "access_key": access_key,
            "secret_key": secret_key,
            "region_name": region,
            # Short timeouts and few botocore retries: studio.storage retries with backoff
            # itself, and a dead S3 must fail a job in seconds, not hold a worker for minutes.
            # (With client_config set, django-storages reads addressing and signature here.)
            "client_config": Config(
                s3={"addressing_style": addressing_style},
                signature_version="s3v4",
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": 2},
            ),
            "querystring_auth": True,
            "querystring_expire": url_expiry,
            "file_overwrite": False,
            "default_acl": None,
        },
    }
