"""The documentation site builds with `mkdocs build --strict` without warnings, and has a page
for every module. (How long the build takes is not asserted: a timed assertion fails on a busy
machine and passes on an idle one, whatever the code does.)"""

from pathlib import Path

from site_fixtures import ROOT, site_pages


def test_strict_build_passes_without_warnings(built_site):
    assert built_site.returncode == 0, built_site.output
    warnings = [line for line in built_site.output.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)


def _expected_page(module: Path) -> str:
    """Where a module's page lives: labml_memory/a/b.py -> a/b/, a/__init__.py -> a/."""
    relative = module.relative_to(ROOT / "labml_memory").with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "".join(part + "/" for part in parts)


def test_every_module_has_a_page(site_dir):
    pages = set(site_pages(site_dir))
    modules = [m for m in (ROOT / "labml_memory").rglob("*.py")
               if "__pycache__" not in m.parts and m.read_text(encoding="utf-8").strip()]
    missing = [str(m.relative_to(ROOT)) for m in modules if _expected_page(m) not in pages]
    assert not missing, f"modules without a page: {missing}"
    # The landing page is the package docstring; the renderer itself is not a page.
    assert "" in pages
    assert not any(page.startswith(("renderer/", "overrides/")) for page in pages)
    assert not (site_dir / "BUILDING").exists()


def test_nothing_generated_is_committed():
    """Pages are made at build time: docs/ holds no Markdown copy of a module."""
    for module in (ROOT / "labml_memory").rglob("*.py"):
        stem = "index" if module.stem == "__init__" else module.stem
        folder = module.parent.relative_to(ROOT / "labml_memory")
        assert not (ROOT / "docs" / folder / f"{stem}.md").exists()


def test_navigation_sections_hold_what_their_names_say():
    """The benchmark package measures the architectures: its pages are neither building
    blocks nor results, and the architectures come in the landing page's order."""
    import literate_hooks as hooks
    hooks._pages = hooks._discover(str(ROOT))
    nav = hooks._build_nav(str(ROOT / "docs"))
    sections = {next(iter(entry)): entry[next(iter(entry))] for entry in nav}

    def uris(entries):
        for entry in entries:
            value = entry if isinstance(entry, str) else next(iter(entry.values()))
            yield from ([value] if isinstance(value, str) else uris(value))

    assert not any(u.startswith("benchmark/") for u in uris(sections["Building blocks"]))
    # Results holds results pages only; the code that measures them has its own section.
    results = list(uris(sections["Results"]))
    assert "results/benchmark.md" in results and all(u.startswith("results/") for u in results)
    assert list(uris(sections[hooks.MEASUREMENT_TITLE]))[0] == "benchmark/index.md"
    assert "attention.md" in list(uris(sections["Building blocks"]))
    # The architectures in the order the landing page introduces them (read from its links).
    import re
    landing = (ROOT / "labml_memory" / "__init__.py").read_text(encoding="utf-8")
    introduced = list(dict.fromkeys(re.findall(r"\]\((\w+)/__init__\.py\)", landing)))
    names = [n for n in sections if n not in ("Home", "Building blocks", "Training", "Tasks",
                                              "Results", hooks.MEASUREMENT_TITLE, "More")]
    order = [next(uris(sections[n])).split("/")[0] for n in names]
    assert [p for p in order if p in introduced] == introduced, (order, introduced)
