"""A migration step for models that moved to another app: their tables, rows, content types and
permissions come along (a table rename), or the tables are created on a database that never had
them."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def adopt_tables(app_label: str, *, from_app: str, models: list[str]) -> migrations.RunPython:
    """Run after the models' CreateModel operations, given to the state only."""

    def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        existing = set(schema_editor.connection.introspection.table_names())
        for name in models:
            model = apps.get_model(app_label, name)
            old_table = f"{from_app}_{name.lower()}"
            if old_table in existing:
                schema_editor.alter_db_table(model, old_table, model._meta.db_table)
            else:
                schema_editor.create_model(model)
        # Permissions hang on the content type: moving it keeps every group's grants.
        content_types = apps.get_model("contenttypes", "ContentType")
        moved = [name.lower() for name in models]
        content_types.objects.filter(app_label=from_app, model__in=moved).update(
            app_label=app_label
        )

    return migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)
