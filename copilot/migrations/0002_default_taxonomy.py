from django.db import migrations

from copilot.taxonomy import DEFAULT_INTENTS, default_examples


def install_default_taxonomy(apps, schema_editor):
    intent_model = apps.get_model("copilot", "Intent")
    example_model = apps.get_model("copilot", "IntentExample")
    intents = {}
    for name, spec in DEFAULT_INTENTS.items():
        intents[name], _ = intent_model.objects.get_or_create(
            name=name,
            defaults={
                "label": spec.label,
                "description": spec.description,
                "tool": spec.tool,
                "escalates": spec.escalates,
            },
        )
    example_model.objects.bulk_create(
        [example_model(intent=intents[name], text=text) for text, name in default_examples()],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("copilot", "0001_initial")]

    operations = [migrations.RunPython(install_default_taxonomy, migrations.RunPython.noop)]
