"""Remote storage: one place that turns a URL scheme into an fsspec filesystem and into
delta-rs storage options, for S3, Azure Blob Storage and Google Cloud Storage.

The artifact store, the files and lakes connector and quarantine all build their remote
filesystems here, so a location means the same thing (and reads the same credentials)
everywhere:

==================  ===========  ==========  =============================================
schemes             package      extra       credentials / endpoint (environment)
==================  ===========  ==========  =============================================
``s3``, ``s3a``     s3fs         ``s3``      the AWS variables; ``DATAMILL_S3_ENDPOINT_URL``
``az``, ``abfs``,   adlfs        ``azure``   ``AZURE_STORAGE_CONNECTION_STRING``, or
``abfss``                                    ``AZURE_STORAGE_ACCOUNT_NAME`` with
                                             ``AZURE_STORAGE_ACCOUNT_KEY`` or
                                             ``AZURE_STORAGE_SAS_TOKEN`` (else Azure AD)
``gs``, ``gcs``     gcsfs        ``gcs``     Google application default credentials
                                             (``GOOGLE_APPLICATION_CREDENTIALS``);
                                             ``DATAMILL_GCS_ENDPOINT_URL`` or
                                             ``STORAGE_EMULATOR_HOST`` for another endpoint
==================  ===========  ==========  =============================================

``storage_options`` given in code override what the environment says. Secrets are only
passed to the client libraries: never logged, never put into a URL or an error message.

GCS against another endpoint (an emulator): recent gcsfs first asks the Storage Control
gRPC API for the bucket's type (zonal / hierarchical), which an emulator does not serve:
every call then waits about 60 s per bucket for the probe to time out. With an endpoint
set, the plain JSON-API filesystem (``gcsfs.core.GCSFileSystem``) is used, which never
probes, and ``token`` defaults to ``"anon"``. gcsfs' own switch for the same is the
environment variable ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` (read when gcsfs is
first imported).
"""

from __future__ import annotations

import json
import os
from typing import Any

from datamill.errors import require

# URL scheme -> family (the canonical scheme of one client library)
SCHEMES: dict[str, str] = {
    "s3": "s3", "s3a": "s3",
    "az": "az", "abfs": "az", "abfss": "az",
    "gs": "gs", "gcs": "gs",
}

# family -> (module, extra, what it is)
_PACKAGES: dict[str, tuple[str, str, str]] = {
    "s3": ("s3fs", "s3", "S3"),
    "az": ("adlfs", "azure", "Azure Blob Storage"),
    "gs": ("gcsfs", "gcs", "Google Cloud Storage"),
}

CLOUD_SCHEMES = tuple(SCHEMES)
"""Every scheme of an object store datamill supports (for error messages and checks)."""


def family(scheme: str | None) -> str | None:
    """``"s3"``, ``"az"`` or ``"gs"`` for a supported object-store scheme, else None."""
    return SCHEMES.get((scheme or "").lower())


def require_client(scheme: str, feature: str) -> None:
    """Fail with the ``pip install 'datamill[extra]'`` line when the scheme's client
    library is missing."""
    fam = family(scheme)
    if fam is not None:
        module, extra, what = _PACKAGES[fam]
        require(module, extra, f"{feature} on {what} ({scheme}://)")


def gcs_endpoint() -> str | None:
    """The GCS endpoint from the environment (an emulator), or None for Google's."""
    url = os.environ.get("DATAMILL_GCS_ENDPOINT_URL") or os.environ.get("STORAGE_EMULATOR_HOST")
    if not url:
        return None
    return url if "://" in url else f"http://{url}"


def fs_options(scheme: str) -> dict[str, Any]:
    """fsspec constructor options of a scheme, from the environment."""
    fam = family(scheme)
    opts: dict[str, Any] = {"use_listings_cache": False}
    if fam == "s3":
        endpoint = os.environ.get("DATAMILL_S3_ENDPOINT_URL")
        if endpoint:
            opts["endpoint_url"] = endpoint
    elif fam == "gs":
        endpoint = gcs_endpoint()
        if endpoint:
            opts["endpoint_url"] = endpoint
            opts["token"] = "anon"
        project = os.environ.get("GOOGLE_CLOUD_PROJECT")
        if project:
            opts["project"] = project
    # Azure: adlfs reads AZURE_STORAGE_CONNECTION_STRING / _ACCOUNT_NAME / _ACCOUNT_KEY /
    # _SAS_TOKEN / _CLIENT_ID ... itself; nothing to copy (and so nothing to leak) here.
    return opts


def filesystem(scheme: str, url: str | None = None, storage_options: dict[str, Any] | None = None,
               *, feature: str = "this location") -> Any:
    """The fsspec filesystem for ``scheme`` (and ``url``: an Azure account named in its
    host), configured from the environment; ``storage_options`` override."""
    import fsspec

    fam = family(scheme)
    require_client(scheme, feature)
    opts = fs_options(scheme)
    if fam == "az" and url:
        account = _azure_account_of(url)
        if account:
            opts["account_name"] = account
    opts.update(storage_options or {})
    if fam == "gs" and opts.get("endpoint_url"):
        from gcsfs.core import GCSFileSystem  # the JSON API only: no gRPC bucket-type probe

        return GCSFileSystem(**opts)
    if fam is None:
        opts.pop("use_listings_cache", None)
    return fsspec.filesystem(fam or scheme, **opts)


def strip(scheme: str, url: str) -> str:
    """A URL's path as its filesystem names it: ``bucket/key`` (no ``scheme://``; for
    ``abfs://container@account.dfs.core.windows.net/key`` the account host is dropped)."""
    if "://" not in url:
        return url
    rest = url.split("://", 1)[1]
    if family(scheme) == "az":
        head, sep, tail = rest.partition("/")
        if "@" in head:
            rest = head.split("@", 1)[0] + sep + tail
    return rest


def _azure_account_of(url: str) -> str | None:
    rest = url.split("://", 1)[1] if "://" in url else url
    head = rest.split("/", 1)[0]
    if "@" not in head:
        return None
    host = head.split("@", 1)[1]
    name = host.split(".", 1)[0]
    return name or None


def bucket_missing(fs: Any, scheme: str, path: str) -> bool:
    """True when the bucket (container) of ``path`` provably does not exist."""
    if family(scheme) is None:
        return False
    bucket = path.split("/", 1)[0]
    try:
        return not fs.exists(bucket)
    except Exception:  # noqa: BLE001 - permission errors: not provably missing
        return False


# ----------------------------------------------------------------------------- delta-rs


def delta_options(scheme: str, url: str | None = None) -> dict[str, str]:
    """delta-rs (object_store) options for a scheme, from the same environment."""
    fam = family(scheme)
    if fam == "s3":
        return _delta_s3()
    if fam == "az":
        return _delta_azure(url)
    if fam == "gs":
        return _delta_gcs()
    return {}


def _delta_s3() -> dict[str, str]:
    opts: dict[str, str] = {}
    endpoint = os.environ.get("DATAMILL_S3_ENDPOINT_URL")
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    opts["AWS_REGION"] = (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
                          or "us-east-1")
    # S3 has conditional writes (If-None-Match): safe concurrent commits without a lock table
    opts["conditional_put"] = os.environ.get("DATAMILL_DELTA_CONDITIONAL_PUT", "etag")
    return opts


def parse_connection_string(text: str) -> dict[str, str]:
    """``Key=Value;Key=Value`` (an Azure storage connection string) as a dict."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            out[key.strip()] = value.strip()
    return out


def _delta_azure(url: str | None) -> dict[str, str]:
    opts: dict[str, str] = {}
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        cs = parse_connection_string(conn)
        if cs.get("UseDevelopmentStorage", "").lower() == "true":
            opts["azure_storage_use_emulator"] = "true"
        for key, name in (("AccountName", "azure_storage_account_name"),
                          ("AccountKey", "azure_storage_account_key"),
                          ("SharedAccessSignature", "azure_storage_sas_token")):
            if cs.get(key):
                opts[name] = cs[key]
        endpoint = cs.get("BlobEndpoint")
        if endpoint:
            opts["azure_storage_endpoint"] = endpoint.rstrip("/")
            if endpoint.startswith("http://"):
                opts["allow_http"] = "true"
    else:
        for env, name in (("AZURE_STORAGE_ACCOUNT_NAME", "azure_storage_account_name"),
                          ("AZURE_STORAGE_ACCOUNT_KEY", "azure_storage_account_key"),
                          ("AZURE_STORAGE_SAS_TOKEN", "azure_storage_sas_token"),
                          ("AZURE_STORAGE_CLIENT_ID", "azure_client_id"),
                          ("AZURE_STORAGE_CLIENT_SECRET", "azure_client_secret"),
                          ("AZURE_STORAGE_TENANT_ID", "azure_tenant_id")):
            if os.environ.get(env):
                opts[name] = os.environ[env]
    account = _azure_account_of(url) if url else None
    if account:
        opts["azure_storage_account_name"] = account
    return opts


def _delta_gcs() -> dict[str, str]:
    endpoint = gcs_endpoint()
    if endpoint:
        # object_store's service-account key may carry another base URL and no OAuth: how
        # it talks to an emulator; nothing secret in it
        key = {"gcs_base_url": endpoint.rstrip("/"), "disable_oauth": True,
               "client_email": "", "private_key": "", "private_key_id": ""}
        opts = {"google_service_account_key": json.dumps(key)}
        if endpoint.startswith("http://"):
            opts["allow_http"] = "true"
        return opts
    creds = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return {"google_application_credentials": creds} if creds else {}
