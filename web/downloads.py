"""Sending a stored attachment: as a download, except pictures, which are shown but can run nothing."""
from __future__ import annotations

from flask import Response, send_file

from engine.cases.attachments import StoredFile

# Raster images a browser can only draw. SVG is not one of them: it can carry scripts.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# An image opened on its own page gets no scripts, forms, plugins or same-origin rights, should a
# crafted file (a PNG that is also HTML) ever be read as something else.
IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def send_attachment(stored: StoredFile, *, inline: bool = False) -> Response:
    """Return the response for a checked attachment; ``inline`` shows raster images in the browser."""
    row = stored.attachment
    mimetype = row.content_type.partition(";")[0].strip().lower()
    shown = inline and mimetype in INLINE_TYPES
    # The filename travels as RFC 6266 / 5987 (filename*=UTF-8''…) so Chinese names survive.
    response = send_file(stored.path, mimetype=mimetype, as_attachment=not shown, download_name=row.filename,
                         etag=row.sha256, conditional=True, max_age=0)
    # The stored type is the one checked against the file's content at upload (with its charset,
    # which send_file would otherwise add a second time).
    response.headers["Content-Type"] = row.content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Digest"] = f"sha-256={row.sha256}"
    if shown:
        response.headers["Content-Security-Policy"] = IMAGE_CSP
    return response
