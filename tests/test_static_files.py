"""Production static files: collectstatic with the real storage, hashed names all the way down."""

import re

from django.core.management import call_command


def test_the_consoles_modules_import_each_other_by_hashed_name(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "helpdesk.storage.StaticFilesStorage"}}
    settings.WHITENOISE_USE_FINDERS = False
    call_command("collectstatic", interactive=False, verbosity=0)

    [entry] = [
        p for p in (tmp_path / "console").glob("console.*.js") if re.fullmatch(r"console\.[0-9a-f]{12}\.js", p.name)
    ]
    imports = re.findall(r"""from\s+["']([^"']+)["']""", entry.read_text())
    assert imports, "the entry module imports the others"
    for target in imports:
        assert re.fullmatch(r"\./[\w-]+\.[0-9a-f]{12}\.js", target), target
        assert (tmp_path / "console" / target[2:]).exists()
    # The widget stays one classic script, served under its plain name for host pages.
    assert (tmp_path / "widget" / "widget.js").exists()
