"""Each model is written only by the modules the README's writer table names (## How the code is laid out).

The code is read, not run (tests/layout_writers.py says what counts as a
write), so a write added anywhere else, or a model added without a row in
the table, fails here with the file and line.
"""

from pathlib import Path

from tests.layout_writers import product_models, writer_table, writes_in_code

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_model_has_a_row_in_the_readmes_writer_table():
    table = writer_table(README)
    missing = sorted(set(product_models()) - set(table))
    assert not missing, f"models with no row in the README's model -> writer table: {missing}"
    unknown = sorted(set(table) - set(product_models()))
    assert not unknown, f"rows of the README's writer table that name no model: {unknown}"


def test_every_write_is_made_by_a_writer_the_readme_names():
    table = writer_table(README)
    stray = [write for write in writes_in_code() if write.path not in table.get(write.model, set())]
    assert not stray, "writes outside the README's writer table:\n" + "\n".join(map(str, stray))


PAGE = '''
from django.contrib import admin
from audiences.models import Canvas, SyncRecord
from integrations.models import Workspace


def rename(workspace: Workspace, name):
    workspace.name = name
    workspace.save()


def forget(canvas_id):
    rows = SyncRecord.objects.filter(step__canvas_id=canvas_id)
    rows.update(last_error="")
    Canvas.objects.filter(pk=canvas_id).delete()


def raw(cursor):
    cursor.execute("DELETE FROM audiences_auditevent WHERE id = %s", [1])


@admin.register(Workspace)
class QuickWorkspaceAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
'''


def test_a_write_outside_its_writer_is_found_with_its_line():
    found = {(w.model, w.line, w.how) for w in writes_in_code({"audiences/admin/quick.py": PAGE})
             if w.path == "audiences/admin/quick.py"}
    assert ("Workspace", 9, ".save()") in found
    assert ("SyncRecord", 14, ".update()") in found
    assert ("Canvas", 15, ".delete()") in found
    assert ("Step", 15, "deleted with Canvas (CASCADE)") in found  # and the canvas's steps' rows
    assert ("SyncRecord", 15, "deleted with Canvas (CASCADE)") in found
    assert ("AuditEvent", 19, "raw DELETE") in found
    assert ("Workspace", 25, "the admin's default save_model") in found
    table = writer_table(README)
    assert all(path not in table.get(model, set()) for model, path in [("Workspace", "audiences/admin/quick.py")])
