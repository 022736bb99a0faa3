"""mkdocs hooks that publish every module of `labml_memory/` as a side-by-side page.

Loaded from `mkdocs.yml` (`hooks:`). At each build they

1. find the modules (`on_config`) and build the navigation from them: Home, Building blocks,
   one section per architecture package, Training, Tasks, Results (the `.md` files in
   `docs/results/`), How it is measured (the benchmark's pages), then any other hand-written
   page;
2. render each module to Markdown in memory (`on_files`; nothing generated is written to disk),
   an architecture's page with its figure from `figures.py` after the citation and the idea, and
   every `{{ result STUDY NAME }}` marker replaced by its sentence computed from the records;
3. before Markdown runs on any page, rewrite links to `.py` files into links to their pages and
   put maths aside as MathML (`on_page_markdown`);
4. after Markdown, put the maths and the highlighted code back (`on_page_content`).

Where pages live: `labml_memory/attention.py` becomes `attention.md` (served at `attention/`),
`labml_memory/transformer_xl/__init__.py` becomes `transformer_xl/index.md` and the package's
`experiment.py` becomes `transformer_xl/experiment.md`. The landing page is the docstring of
`labml_memory/__init__.py`.

Every link to GitHub or Colab is built from `repo_url` in `mkdocs.yml`; the branch is
`extra.source_branch` (default `main`).
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from dataclasses import dataclass, replace as replace_fields
from urllib.parse import urlsplit

from markdown.extensions.toc import slugify as toc_slugify
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import figures
import literate
from maths import MathStash, stash_maths

log = logging.getLogger("mkdocs.hooks.literate")

PACKAGE = "labml_memory"
# The order a reader meets the architectures in, the landing page's: each builds on the one
# before, and the memory-depth study of Transformer-XL comes after the architectures.
ARCHITECTURE_ORDER = ["transformer_xl", "compressive", "infinity_former", "infini_attention",
                      "memorizing_transformer", "recurrent_memory", "memory_depth"]
# Building blocks in reading order: tokens in, positions, attention, the rest of a layer.
BLOCK_ORDER = ["embedding", "positional", "attention", "feed_forward", "residual"]
TRAINING = {"training", "trainer", "train", "data"}
TASKS = {"tasks", "task", "datasets"}
# Packages that measure the others: their pages get a section of their own after Results
# ("How it is measured"), so that Results holds only results and the building blocks only
# what a model is built from.
MEASUREMENT = {"benchmark", "studies"}
MEASUREMENT_TITLE = "How it is measured"


@dataclass
class ModulePage:
    path: str        # path from the repository root, e.g. labml_memory/transformer_xl/__init__.py
    src_uri: str     # the page it becomes, e.g. transformer_xl/index.md
    module: literate.Module

    @property
    def package(self) -> str:
        """The folder under labml_memory/ the module is in ('' at the top)."""
        return posixpath.dirname(self.src_uri)

    @property
    def stem(self) -> str:
        return posixpath.splitext(posixpath.basename(self.src_uri))[0]


# State of the current build. mkdocs renders pages one after another, so a module-level
# dictionary is enough; `on_config` starts it afresh at every (re)build of `mkdocs serve`.
_root = ""
_pages: dict[str, ModulePage] = {}          # by src_uri
_by_path: dict[str, ModulePage] = {}        # by absolute path of the .py file
_codes: dict[str, dict[str, str]] = {}      # code placeholders by src_uri
_maths: dict[str, MathStash] = {}           # maths placeholders by src_uri
_current: MathStash | None = None           # the page being rendered, for `slugify`


# ## Finding the modules


def _page_uri(relative: str) -> str:
    """`transformer_xl/__init__.py` -> `transformer_xl/index.md`, `attention.py` -> `attention.md`."""
    folder, name = posixpath.split(relative)
    stem = "index" if name == "__init__.py" else name[:-3]
    return posixpath.join(folder, stem + ".md")


def _discover(root: str) -> dict[str, ModulePage]:
    pages: dict[str, ModulePage] = {}
    top = os.path.join(root, PACKAGE)
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, top).replace(os.sep, "/")
            with open(full, encoding="utf-8") as f:
                source = f.read()
            if not source.strip():
                continue  # an empty __init__.py says nothing a reader needs
            try:
                module = literate.parse(source, name=_default_title(relative))
            except SyntaxError as error:
                log.warning("%s/%s does not parse, so it has no page: %s", PACKAGE, relative, error)
                continue
            page = ModulePage(f"{PACKAGE}/{relative}", _page_uri(relative), module)
            pages[page.src_uri] = page
    return pages


def _default_title(relative: str) -> str:
    folder, name = posixpath.split(relative)
    if name == "__init__.py":
        return folder.split("/")[-1] if folder else PACKAGE
    return name[:-3]


def _is_architecture(package: str) -> bool:
    """An architecture package holds the model (`__init__.py`) and its `experiment.py`."""
    return bool(package) and f"{package}/index.md" in _pages and f"{package}/experiment.md" in _pages


# ## Navigation


def _rank(name: str, preferred: list[str]) -> tuple[int, str]:
    """Sort key: the names in `preferred` in its order, then the others alphabetically."""
    return (preferred.index(name) if name in preferred else len(preferred), name)


def _title(page: ModulePage) -> str:
    return literate.plain_title(page.module.title)


def _package_nav(package: str) -> list:
    """A package's pages: its `__init__` first (the model, or the overview), then `experiment`,
    then the other modules, then sub-packages as sub-sections."""
    inside = [p for p in _pages.values() if p.package == package]
    order = {"index": 0, "experiment": 1}
    entries: list = []
    for page in sorted(inside, key=lambda p: (order.get(p.stem, 2), p.stem)):
        if page.stem == "index":
            entries.append({"Model" if _is_architecture(package) else "Overview": page.src_uri})
        elif page.stem == "experiment":
            entries.append({"Experiment": page.src_uri})
        else:
            entries.append({_title(page): page.src_uri})
    for sub in sorted({p.package for p in _pages.values()
                       if posixpath.dirname(p.package) == package and p.package != package}):
        entries.append(_section(sub))
    return entries


def _section(package: str) -> dict:
    index = _pages.get(f"{package}/index.md")
    title = _title(index) if index else package.split("/")[-1].replace("_", " ").capitalize()
    return {title: _package_nav(package)}


def _build_nav(docs_dir: str) -> list:
    nav: list = []
    if "index.md" in _pages:
        nav.append({"Home": "index.md"})
    packages = sorted({p.src_uri.split("/")[0] for p in _pages.values() if "/" in p.src_uri})
    architectures = sorted((p for p in packages if _is_architecture(p)),
                           key=lambda p: _rank(p, ARCHITECTURE_ORDER))
    others = [p for p in packages if p not in architectures and p not in TRAINING | TASKS | MEASUREMENT]

    top_level = sorted((p for p in _pages.values() if not p.package and p.stem != "index"),
                       key=lambda p: _rank(p.stem, BLOCK_ORDER))
    blocks: list = [{_title(p): p.src_uri} for p in top_level]
    blocks += [_section(p) for p in others]
    if blocks:
        nav.append({"Building blocks": blocks})
    nav += [_section(p) for p in architectures]
    for heading, names in (("Training", TRAINING), ("Tasks", TASKS)):
        entries = [e for p in packages if p in names for e in _package_nav(p)]
        if entries:
            nav.append({heading: entries})

    results = _markdown_files(docs_dir, "results")
    if results:
        nav.append({"Results": results})
    measuring = [_section(p) for p in packages if p in MEASUREMENT]
    if measuring:
        nav.append({MEASUREMENT_TITLE: measuring})
    more = [f for f in _markdown_files(docs_dir, "")
            if f != "index.md" and not f.startswith("results/")]
    if more:
        nav.append({"More": more})
    return nav


# Folders of docs/ that hold no pages (they are left out by `exclude_docs` too).
NOT_PAGES = {"renderer", "overrides", "assets"}


def _markdown_files(docs_dir: str, folder: str) -> list[str]:
    """Hand-written `.md` files under `docs/<folder>`, each folder's `index.md` first."""
    found = []
    for where, dirs, names in os.walk(os.path.join(docs_dir, folder)):
        relative = os.path.relpath(where, docs_dir).replace(os.sep, "/")
        relative = "" if relative == "." else relative
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_"))
                         and not (not relative and d in NOT_PAGES))
        for name in names:
            if name.endswith(".md") and not (not relative and name == "BUILDING.md"):
                found.append(posixpath.join(relative, name))
    return sorted(found, key=lambda f: (posixpath.dirname(f), posixpath.basename(f) != "index.md", f))


# ## Links to GitHub and Colab, all from `repo_url`


def _source_url(config, path: str) -> str:
    branch = config.extra.get("source_branch", "main")
    return f"{config.repo_url.rstrip('/')}/blob/{branch}/{path}"


def _colab_url(config, package: str) -> str:
    owner_repo = urlsplit(config.repo_url).path.strip("/")
    branch = config.extra.get("source_branch", "main")
    return (f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}"
            f"/experiments/notebooks/{package}.ipynb")


def _header(page: ModulePage, config) -> str:
    """The row of links under a page's title."""
    links: list[str] = []
    package = page.package
    if _is_architecture(package) and page.stem in ("index", "experiment"):
        if page.stem == "index":
            paper = literate.first_arxiv_link(page.module.docstring)
            if paper:
                links.append(f"[:material-file-document-outline: Paper]({paper}){{ .lit-badge }}")
        else:
            links.append("[:material-arrow-left: Model](index.md){ .lit-badge }")
        links.append(f"[:simple-googlecolab: Open in Colab]({_colab_url(config, package)})"
                     "{ .lit-badge .lit-badge--colab }")
        if page.stem == "index":
            links.append("[:material-flask-outline: Experiment](experiment.md){ .lit-badge }")
    links.append(f"[:material-github: View source]({_source_url(config, page.path)}){{ .lit-badge }}")
    return '<div class="lit-links" markdown>\n' + "\n".join(links) + "\n</div>"


# ## The memory explorer
#
# Under the title of each architecture page, a placeholder that `docs/assets/explorer.js`
# turns into the live figure; on the landing page, before its first section, the seven small.


def _explorer(package: str, compact: bool = False) -> str:
    return (f'<div class="memory-explorer" data-model="{package}"{" data-compact" if compact else ""}>'
            "</div>")


def _with_family(module: literate.Module) -> literate.Module:
    packages = [p for p in ARCHITECTURE_ORDER if f"{p}/index.md" in _pages]
    lines = module.docstring.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("## ")), None)
    if not packages or at is None:
        return module
    cards = ['<div class="memory-explorer-family" markdown>', "",
             '<p class="mx-family-lede">What a query at the end of a segment can reach in each model, at '
             "small sizes: point at a state to light up its keys, and open a page to change the sizes.</p>", ""]
    for package in packages:
        cards += ['<figure class="memory-explorer-card" markdown>', "",
                  '<figcaption markdown>', "",
                  f"[{_title(_pages[f'{package}/index.md'])}]({package}/index.md)", "", "</figcaption>",
                  "", _explorer(package, compact=True), "", "</figure>", ""]
    cards += ["</div>", ""]
    return replace_fields(module, docstring="\n".join(lines[:at] + cards + lines[at:]))


# ## Links between modules


_INLINE_LINK = re.compile(r"(\]\(\s*<?)([^()\s<>]+?\.py)(#[^()\s<>]*)?(?=>?(?:\s+\"[^\"]*\")?\s*\))")
_REFERENCE_LINK = re.compile(r"^( {0,3}\[[^\]]+\]:\s*<?)(\S+?\.py)(#\S*?)?(?=>?(?:\s|$))", re.M)


def _rewrite_links(markdown: str, origin: str, src_uri: str, config) -> str:
    """Point links to `.py` files (relative to `origin`, the file the Markdown comes from) at
    the pages those modules become; a `.py` file that has no page gets its GitHub URL."""

    def replace(match: re.Match) -> str:
        target, anchor = match.group(2), match.group(3) or ""
        if "://" in target or target.startswith("/"):
            return match.group(0)
        path = os.path.normpath(os.path.join(os.path.dirname(origin), target))
        page = _by_path.get(path)
        if page:
            link = posixpath.relpath(page.src_uri, posixpath.dirname(src_uri) or ".")
        elif path.startswith(_root + os.sep):
            link = _source_url(config, os.path.relpath(path, _root).replace(os.sep, "/"))
            if not os.path.isfile(path):
                # Said once, naming the file the author wrote; the link goes to where the file
                # would be on GitHub, so mkdocs does not report it a second time.
                log.warning("%s links to %s, which does not exist",
                            os.path.relpath(origin, _root), target)
        else:
            return match.group(0)  # outside the repository: mkdocs reports it if it is broken
        return match.group(1) + link + anchor

    markdown = _INLINE_LINK.sub(replace, markdown)
    return _REFERENCE_LINK.sub(replace, markdown)


# ## Measured figures, from the records
#
# A note never retypes a measured figure: it writes `{{ result STUDY NAME }}` and the sentence
# is computed here from the study's records by
# [the citations](../../labml_memory/studies/citations.py), before Markdown and the maths
# see the page (a citation may hold maths and links like any note). The code column is a
# placeholder by then, so a marker in a string of code is never touched. A marker that cannot
# be resolved stops the build with one line that names the module.


def _cite_results(markdown: str, page: ModulePage, config) -> str:
    if "{{" not in markdown:
        return markdown
    from labml_memory.studies import citations
    try:
        return citations.substitute(markdown, os.path.join(config.docs_dir, "results"),
                                    page=page.src_uri)
    except citations.CitationError as error:
        raise PluginError(f"{page.path}: {error}") from None


# ## The hooks


def _slugify(value: str, separator: str, **kwargs) -> str:
    """Heading ids from the heading's text with its maths as LaTeX source, so that an id does
    not depend on how many formulas came before it on the page."""
    if _current is not None:
        value = _current.plain(value)
    return toc_slugify(value, separator, **kwargs)


def on_config(config):
    global _root, _pages, _by_path
    _root = os.path.dirname(os.path.abspath(config.config_file_path))
    _pages = _discover(_root)
    _by_path = {os.path.normpath(os.path.join(_root, p.path)): p for p in _pages.values()}
    _codes.clear()
    _maths.clear()
    config.nav = _build_nav(config.docs_dir)
    config.mdx_configs.setdefault("toc", {})["slugify"] = _slugify
    return config


def on_files(files: Files, config) -> Files:
    for page in _pages.values():
        existing = files.get_file_from_path(page.src_uri)
        if existing is not None:
            log.warning("docs/%s is hidden by the page generated from %s", page.src_uri, page.path)
            files.remove(existing)
        drawn = figures.figure(page.package) if page.stem == "index" else None
        header, module = _header(page, config), page.module
        if page.stem == "index" and page.package in ARCHITECTURE_ORDER:
            header += "\n\n" + _explorer(page.package)
        elif page.src_uri == "index.md":
            module = _with_family(module)
        markdown, codes = literate.render(module, header=header, figure=drawn)
        markdown = _cite_results(markdown, page, config)
        title = literate.plain_title(page.module.title).replace('"', "'")
        front = f'---\ntitle: "{title}"\n---\n\n'
        files.append(File.generated(config, page.src_uri, content=front + markdown))
        _codes[page.src_uri] = codes
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    global _current
    src_uri = page.file.src_uri
    module = _pages.get(src_uri)
    if module is not None:
        origin = os.path.join(_root, module.path)
        page.edit_url = _source_url(config, module.path)
    else:
        origin = page.file.abs_src_path or os.path.join(config.docs_dir, src_uri)
    markdown = _rewrite_links(markdown, origin, src_uri, config)
    _current = _maths[src_uri] = MathStash(where=module.path if module else f"docs/{src_uri}")
    return stash_maths(markdown, _current)


def on_page_content(html: str, page, config, files) -> str:
    global _current
    src_uri = page.file.src_uri
    for key, code in _codes.get(src_uri, {}).items():
        html = html.replace(key, code, 1)
    stash = _maths.pop(src_uri, None)
    if stash is not None:
        html = stash.restore(html)
        _plain_toc(page.toc, stash)
        if page.title:
            page.title = stash.text(page.title)
    _current = None
    return html


def _plain_toc(items, stash: MathStash) -> None:
    """The table of contents is plain text: a heading's maths appears there as the
    characters it shows (σ, β, ψ), never as LaTeX source or MathML."""
    for item in items:
        item.title = stash.text(item.title)
        _plain_toc(item.children, stash)
