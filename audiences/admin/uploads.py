"""A marketer enters users into an active canvas by uploading a CSV, on the canvas page.

The upload runs `enter_users` itself (the same columns, the same validation
through services.users_validate, the same batches through
services.users_enter_once): the whole file is checked before anything is
entered, so a file with a bad row is refused whole with the row and line
named, and nothing is half-written.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

from django.contrib import messages
from django.core.management import CommandError, call_command
from django.http import HttpResponseRedirect

from audiences.models import Canvas

# A CSV of ~50 bytes a user: about a million users. Bigger files: `enter_users` on the server.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class UploadPages:
    """The CSV upload view of CanvasAdmin (which provides _canvas and _canvas_url)."""

    def canvas_upload_view(self, request, canvas_id: int):
        canvas = self._canvas(request, canvas_id)
        back = HttpResponseRedirect(self._canvas_url(canvas) + "#upload-users")
        upload = request.FILES.get("users_csv")
        if request.method != "POST":
            return back
        if canvas.status != Canvas.Status.ACTIVE:
            messages.error(request, "Launch the canvas before adding users: users can only enter a live canvas.")
            return back
        if upload is None:
            messages.error(request, "Choose a CSV file to upload.")
            return back
        if upload.size > MAX_UPLOAD_BYTES:
            messages.error(request, f"The file is over {MAX_UPLOAD_BYTES // 1024 // 1024} MB: split it, or ask "
                                    "staff to run enter_users on the server.")
            return back
        name = SAFE_NAME.sub("_", Path(upload.name or "users.csv").name)[:100]
        if not name.lower().endswith(".csv"):
            messages.error(request, "Upload a .csv file with the columns external_id, email, ios_idfa, android_aid.")
            return back
        out = io.StringIO()
        with tempfile.TemporaryDirectory(prefix="upload-") as folder:
            path = Path(folder) / name
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            try:
                call_command("enter_users", str(path), canvas=canvas.pk, format="csv", no_progress=True, restart=True,
                             stdout=out, stderr=io.StringIO())
            except CommandError as exc:
                messages.error(request, f"The file was refused: {exc}".replace(
                    "run the same command again", "upload the file again"))
                return back
        for line in out.getvalue().splitlines():
            if line.strip():
                messages.success(request, line)
        return back
