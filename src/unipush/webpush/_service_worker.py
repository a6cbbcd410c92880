"""The service worker shipped with unipush (``unipush/static/unipush-sw.js``) and how to find it.

The worker shows unipush's Declarative Web Push messages in browsers that do not show them natively
and opens the message's URL on click; ``docs/service-worker.md`` explains how to serve and register it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["SERVICE_WORKER_FILENAME", "service_worker_path", "service_worker_source"]

SERVICE_WORKER_FILENAME = "unipush-sw.js"
"""The worker's file name, also the name to serve it under (``/unipush-sw.js``)."""


def service_worker_source() -> str:
    """The JavaScript source of ``unipush-sw.js``, to serve from your site or write to a static folder.

    Serve it with a JavaScript content type (``text/javascript``) from the path whose directory is the
    scope it should control, usually the site root: ``/unipush-sw.js``.
    """
    return (files("unipush") / "static" / SERVICE_WORKER_FILENAME).read_text(encoding="utf-8")


def service_worker_path() -> Path:
    """The file system path of the installed ``unipush-sw.js``, e.g. to copy it or serve it as a file.

    Raises:
        FileNotFoundError: unipush is imported from an archive (a zip file), where the worker has no
            path of its own; use ``service_worker_source()`` there.
    """
    resource = files("unipush") / "static" / SERVICE_WORKER_FILENAME
    if not isinstance(resource, Path) or not resource.is_file():
        raise FileNotFoundError(
            f"{SERVICE_WORKER_FILENAME} has no file system path here ({resource!r}); use service_worker_source()"
        )
    return resource
