"""The figure at the top of each architecture page, drawn as SVG from code.

Each architecture gets one picture of the same two things: what is carried from one segment to
the next, and what attends to what. They are drawn here, at build time, instead of being
committed as images, so they stay consistent with each other (one palette, one set of shapes,
one size of lettering) and a change to a figure is a change to readable code.

The SVG goes into the page inline, not as an `<img>`, so that it can take its colours from
the page: lines and lettering are `currentColor` (the text colour of the light or dark
scheme), and the fills are classes (`f-seg`, `f-mem`, ...) that `docs/assets/literate.css`
colours per scheme. Nothing here names a colour.

`FIGURES` maps an architecture package to the function that draws its figure and the caption
under it; the page puts the figure after the paper's citation and the idea paragraph, before
any table (`literate.figure_place`).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

# Sizes in the figure's own units. Every figure is `WIDTH` units wide and scales to the
# column, so the same numbers give the same lettering size on every page.
WIDTH = 720
CELL = 24          # one token or memory slot
PITCH = 30         # distance between neighbouring slots
FONT = 13          # labels
SMALL = 11         # notes under labels


@dataclass
class Svg:
    """A small SVG writer: shapes are appended as strings, `render` wraps them."""
    height: int
    name: str                       # prefix of the ids inside, unique on a page
    title: str                      # read out by screen readers
    parts: list[str] = field(default_factory=list)

    def rect(self, x, y, w, h, cls, dashed=False, rx=3):
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        self.parts.append(f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                          f'height="{h:.1f}" rx="{rx}"{dash}/>')

    def line(self, x1, y1, x2, y2, cls="f-line", arrow=False, dashed=False):
        end = f' marker-end="url(#{self.name}-arrow)"' if arrow else ""
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.parts.append(f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" '
                          f'y2="{y2:.1f}"{end}{dash}/>')

    def path(self, d, cls="f-line", arrow=False, dashed=False):
        end = f' marker-end="url(#{self.name}-arrow)"' if arrow else ""
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.parts.append(f'<path class="{cls}" d="{d}"{end}{dash}/>')

    def text(self, x, y, words, anchor="middle", size=FONT, cls="f-text", italic=False):
        """A label; `_{s-1}`, or `_c` with one character ending a word, is written as a
        subscript; any other underscore is the character itself (`memory_grad`)."""
        style = ' font-style="italic"' if italic else ""
        self.parts.append(f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
                          f'text-anchor="{anchor}"{style}>{_subscripts(words)}</text>')

    def render(self) -> str:
        # The arrowhead is drawn in currentColor, so it follows the scheme like the lines do.
        marker = (f'<defs><marker id="{self.name}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                  'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                  '<path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>')
        return (f'<svg class="lit-figure-svg" viewBox="0 0 {WIDTH} {self.height}" role="img" '
                f'aria-labelledby="{self.name}-title" xmlns="http://www.w3.org/2000/svg">'
                f'<title id="{self.name}-title">{html.escape(self.title)}</title>'
                + marker + "".join(self.parts) + "</svg>")


# A subscript is asked for with braces, `M_{s−1}` or `A_{dot}`, or is one letter or digit
# ending a word: `f_c`, `W_O`, `z_s,`. An underscore inside a word stays one (`memory_grad`),
# so a name from the code is never half set as a subscript (`A_dot` would read A-subscript-d,
# "ot").
_SUBSCRIPT = re.compile(r"_(\{[^{}]*\}|[^\W_](?!\w))")


def _subscripts(words: str) -> str:
    """Escaped text with `_{xy}` and a word-ending `_x` turned into subscript spans."""
    pieces = _SUBSCRIPT.split(words)
    # split() alternates plain text (even places) and the captured subscripts (odd places).
    return "".join(
        f'<tspan baseline-shift="sub" font-size="75%">{html.escape(p.strip("{}"))}</tspan>'
        if k % 2 else html.escape(p) for k, p in enumerate(pieces))


def _slots(svg: Svg, x0: float, y: float, count: int, cls: str, dashed=False) -> list[float]:
    """A row of `count` slots starting at `x0`; returns the centre x of each."""
    centres = []
    for i in range(count):
        x = x0 + i * PITCH
        svg.rect(x, y, CELL, CELL, cls, dashed=dashed)
        centres.append(x + CELL / 2)
    return centres


def _bracket(svg: Svg, x1: float, x2: float, y: float, words: str, below=False, size=SMALL):
    """A thin bracket over (or under) the slots from x1 to x2, with a label."""
    tick = 5 if below else -5
    svg.path(f"M{x1:.1f},{y - tick:.1f} V{y:.1f} H{x2:.1f} V{y - tick:.1f}", cls="f-thin")
    svg.text((x1 + x2) / 2, y + (15 if below else -8), words, size=size)


# ## Transformer-XL
#
# Two layers over the hidden states $h^0$ (the embeddings), $h^1$ and $h^2$. Each row of the
# previous segment is kept as that layer's memory; a query of layer $n$ attends to the memory
# of layer $n-1$ and to the current segment up to itself.


def transformer_xl() -> Svg:
    svg = Svg(height=300, name="fig-xl",
              title="Transformer-XL: each layer attends over the cached states of the previous "
                    "segment and the current segment up to the query")
    memory, segment = 5, 5
    x_mem = 150
    x_seg = x_mem + memory * PITCH + 30
    rows = {0: 236, 1: 150, 2: 64}          # y of h^0, h^1, h^2
    for n, y in rows.items():
        svg.text(x_mem - 16, y + 16, f"h{'⁰¹²'[n]}" + (" (embeddings)" if n == 0 else ""),
                 anchor="end")
        if n < 2:
            # The top row is the output: nothing attends to it, so it is never cached.
            mem = _slots(svg, x_mem, y, memory, "f-mem", dashed=True)
        seg = _slots(svg, x_seg, y, segment, "f-seg")
        if n == 0:
            bottom_mem, bottom_seg = mem, seg
        if n == 1:
            middle_mem, middle_seg = mem, seg
        if n == 2:
            top_seg = seg
    # Query at the end of the segment, layer 2: every slot of layer 1's memory and segment.
    for x in middle_mem + middle_seg:
        svg.line(top_seg[-1], rows[2] + CELL, x, rows[1], cls="f-attend")
    # Query at the start of the segment, layer 1: the memory of layer 0 and itself only.
    for x in bottom_mem + bottom_seg[:1]:
        svg.line(middle_seg[0], rows[1] + CELL, x, rows[0], cls="f-attend f-attend--second")
    _bracket(svg, x_mem, x_mem + memory * PITCH - 6, 40, "memory: segment τ−1, no gradient")
    _bracket(svg, x_seg, x_seg + segment * PITCH - 6, 40, "segment τ")
    # Each row of this segment becomes the memory of the next one.
    right = x_seg + segment * PITCH
    for n in (0, 1):
        y = rows[n] + CELL / 2
        svg.line(right, y, right + 70, y, arrow=True, dashed=True)
    svg.text(right + 78, rows[1] + 8, "cached (detached):", anchor="start", size=SMALL)
    svg.text(right + 78, rows[1] + 22, "the memory of", anchor="start", size=SMALL)
    svg.text(right + 78, rows[1] + 36, "segment τ+1", anchor="start", size=SMALL)
    svg.text(right + 78, rows[0] + 16, "same for every layer", anchor="start", size=SMALL)
    svg.text(WIDTH / 2, 292, "lines: the keys one query attends to (causal within the segment)",
             size=SMALL, cls="f-text f-muted")
    return svg


# ## Compressive Transformer
#
# One layer. Top row: what a query of the segment attends to. Bottom row: the same layer one
# segment later. The segment joins the memory, the $L$ oldest memories leave through $f_c$
# into $\lfloor L / c \rfloor$ compressed slots, and the oldest compressed slot falls off.


def compressive() -> Svg:
    svg = Svg(height=330, name="fig-compressive",
              title="Compressive Transformer: memory and compressed memory, two FIFO queues "
                    "joined by the compression function")
    compressed_len, mem_len, seq_len, c = 4, 6, 3, 3
    x0 = 60
    x_mem = x0 + compressed_len * PITCH + 24
    x_seg = x_mem + mem_len * PITCH + 24
    top, bottom = 60, 250
    cm = _slots(svg, x0, top, compressed_len, "f-cmem")
    mem = _slots(svg, x_mem, top, mem_len, "f-mem", dashed=True)
    seg = _slots(svg, x_seg, top, seq_len, "f-seg")
    # The attention fan, drawn above the row as arcs from the last query.
    for x in cm + mem + seg[:-1]:
        svg.path(f"M{seg[-1]:.1f},{top} Q{(seg[-1] + x) / 2:.1f},{top - 34 - 0.08 * (seg[-1] - x):.1f} "
                 f"{x:.1f},{top}", cls="f-attend")
    # Sizes in the site's notation ($M_c$, $M$, $L$; the paper writes $n_{cm}$, $n_m$, $n_s$).
    svg.text(x0 + (compressed_len * PITCH) / 2 - 3, top + CELL + 18,
             f"compressed M_c = {compressed_len}", size=SMALL)
    svg.text(x_mem + (mem_len * PITCH) / 2 - 3, top + CELL + 18, f"memory M = {mem_len}", size=SMALL)
    svg.text(x_seg + (seq_len * PITCH) / 2 - 3, top + CELL + 18, f"segment L = {seq_len}", size=SMALL)
    svg.text(x0 - 10, top + 16, "τ", anchor="end", italic=True)
    svg.text(x0 - 10, bottom + 16, "τ+1", anchor="end", italic=True)

    # One segment later: compressed memory gains one slot, memory shifts by $L$.
    new_cm = _slots(svg, x0, bottom, compressed_len, "f-cmem")
    new_mem = _slots(svg, x_mem, bottom, mem_len, "f-mem", dashed=True)
    _slots(svg, x_seg, bottom, seq_len, "f-seg f-next")
    svg.text(x_seg + (seq_len * PITCH) / 2 - 3, bottom + CELL + 18, "next segment", size=SMALL)
    # Oldest compressed slot falls off the end.
    svg.text(cm[0], top + CELL + 50, "dropped", size=SMALL, cls="f-text f-muted")
    svg.line(cm[0], top + CELL + 26, cm[0], top + CELL + 38, cls="f-thin")
    # The $L$ oldest memories go through $f_c$ into $L / c$ new compressed slots.
    fc_x, fc_y = (mem[1] + new_cm[-1]) / 2 - 10, 170
    svg.rect(fc_x - 26, fc_y - 14, 52, 28, "f-box")
    svg.text(fc_x, fc_y + 5, "f_c", italic=True)

    for x in mem[:seq_len]:
        svg.line(x, top + CELL + 26, fc_x + (x - mem[1]) * 0.3, fc_y - 14, arrow=True)
    svg.line(fc_x, fc_y + 14, new_cm[-1], bottom - 2, arrow=True)
    # Said under the compressed memory, where no arrow crosses it.
    svg.text(x0, bottom + CELL + 18, f"newest slot: f_c of the L oldest memories (c = {c}: "
             "L/c slots per segment)", anchor="start", size=SMALL)
    # The remaining memories move left by $L$; the segment joins at the newest end.
    for src, dst in zip(mem[seq_len:], new_mem[:mem_len - seq_len]):
        svg.line(src, top + CELL + 26, dst, bottom - 2, arrow=True, cls="f-line f-muted")
    for src, dst in zip(seg, new_mem[mem_len - seq_len:]):
        svg.line(src, top + CELL + 26, dst, bottom - 2, arrow=True)
    for src, dst in zip(cm[1:], new_cm[:-1]):
        svg.line(src, top + CELL + 26, dst, bottom - 2, cls="f-line f-muted", arrow=True)
    svg.text(WIDTH - 10, 322, "both memories are FIFO; arcs: the keys one query attends to",
             anchor="end", size=SMALL, cls="f-text f-muted")
    return svg


# ## ∞-former
#
# Left: one coordinate of the long-term memory, $\bar X(t) = B^\top \psi(t)$, a sum of radial
# basis functions over $t \in [0, 1]$, and a query's Gaussian density over $t$, which replaces
# the softmax. Right: the update. The old signal is sampled, contracted into $[0, \rho]$, the
# new vectors are placed on $[\rho, 1]$ and the coefficients are fitted again by ridge
# regression, here for real, on 12 basis functions.


def _gauss(t: float, mu: float, sigma: float) -> float:
    return math.exp(-0.5 * ((t - mu) / sigma) ** 2)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; a is small and well conditioned."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def _ridge(ts: list[float], xs: list[float], centres: list[float], width: float, lam: float):
    """Coefficients b minimising sum_i (b . psi(t_i) - x_i)^2 + lam |b|^2."""
    psi = [[_gauss(t, c, width) for c in centres] for t in ts]
    n = len(centres)
    gram = [[sum(p[i] * p[j] for p in psi) + (lam if i == j else 0) for j in range(n)]
            for i in range(n)]
    rhs = [sum(p[i] * x for p, x in zip(psi, xs)) for i in range(n)]
    return _solve(gram, rhs)


def _curve(svg, f, x0, x1, y0, scale, t0=0.0, t1=1.0, cls="f-signal", steps=120):
    points = []
    for k in range(steps + 1):
        t = t0 + (t1 - t0) * k / steps
        points.append(f"{x0 + (x1 - x0) * t:.1f},{y0 - scale * f(t):.1f}")
    svg.path("M" + " L".join(points), cls=cls)


def infinity_former() -> Svg:
    svg = Svg(height=300, name="fig-inf",
              title="∞-former: the long-term memory is a continuous signal read through a "
                    "Gaussian, and contracted then re-fitted when new text arrives")
    centres = [(j + 0.5) / 12 for j in range(12)]
    width = 0.06
    coef = [0.9, 0.2, -0.5, 0.4, 1.0, 0.6, -0.3, -0.8, 0.1, 0.7, 0.3, -0.4]
    signal = lambda t: sum(b * _gauss(t, c, width) for b, c in zip(coef, centres))  # noqa: E731

    # Left panel: the basis, the signal and one query's density.
    lx0, lx1, base = 40, 330, 190
    for c in centres:
        _curve(svg, lambda t, c=c: 0.35 * _gauss(t, c, width), lx0, lx1, base, 60, cls="f-basis")
    _curve(svg, signal, lx0, lx1, base - 100, 30)
    mu, sigma = 0.62, 0.07
    _curve(svg, lambda t: _gauss(t, mu, sigma), lx0, lx1, base, 55, cls="f-density")
    svg.line(lx0, base, lx1, base, cls="f-thin")
    svg.text(lx0, base + 16, "0", size=SMALL)
    svg.text(lx1, base + 16, "1", size=SMALL)
    svg.text((lx0 + lx1) / 2, base + 16, "t", size=SMALL, italic=True)
    svg.text(lx0, 40, "read", anchor="start")
    svg.text(lx1, 40, "signal X̄(t) = Bᵀψ(t)", anchor="end", size=SMALL)
    svg.text(lx0 + (lx1 - lx0) * mu + 26, base - 36, "query's N(μ, σ²)", anchor="start",
             size=SMALL, cls="f-text f-accent")
    svg.text(lx0, base + 40, "basis functions ψⱼ (faint); the read is", anchor="start", size=SMALL)
    svg.text(lx0, base + 54, "E[ψ(t)] under the Gaussian, times V = BW_V", anchor="start",
             size=SMALL)

    # Right panel: contract the old signal into [0, tau], append the new vectors, re-fit.
    rx0, rx1, top_base, low_base, tau = 400, 690, 110, 230, 0.5
    _curve(svg, signal, rx0, rx1, top_base, 38)
    samples = [(k + 0.5) / 10 for k in range(10)]
    for t in samples:
        svg.parts.append(f'<circle class="f-sample" cx="{rx0 + (rx1 - rx0) * t:.1f}" '
                         f'cy="{top_base - 38 * signal(t):.1f}" r="3"/>')
    svg.line(rx0, top_base, rx1, top_base, cls="f-thin")
    svg.text(rx0, 40, "write: contract, append, re-fit", anchor="start")
    svg.text(rx1, 40, "old signal, sampled", anchor="end", size=SMALL)
    # Where the old samples and the new vectors sit on [0, 1] after the contraction.
    new_vectors = [0.5, -0.6, 0.9, 0.2, -0.3, 0.6]
    ts = [tau * t for t in samples] + [tau + (1 - tau) * (k + 0.5) / len(new_vectors)
                                       for k in range(len(new_vectors))]
    xs = [signal(t) for t in samples] + new_vectors
    fitted = _ridge(ts, xs, centres, width, lam=0.05)
    _curve(svg, lambda t: sum(b * _gauss(t, c, width) for b, c in zip(fitted, centres)),
           rx0, rx1, low_base, 38)
    for t, x in zip(ts, xs):
        cls = "f-sample" if t < tau else "f-new"
        svg.parts.append(f'<circle class="{cls}" cx="{rx0 + (rx1 - rx0) * t:.1f}" '
                         f'cy="{low_base - 38 * x:.1f}" r="3.5"/>')
    svg.line(rx0, low_base, rx1, low_base, cls="f-thin")
    x_tau = rx0 + (rx1 - rx0) * tau
    svg.line(x_tau, low_base - 60, x_tau, low_base + 6, cls="f-thin", dashed=True)
    svg.text(x_tau, low_base + 18, "ρ", size=SMALL, italic=True)

    svg.text(rx0, low_base + 18, "0", size=SMALL)
    svg.text(rx1, low_base + 18, "1", size=SMALL)
    # The contraction: all of [0, 1] goes to [0, tau].
    svg.line(rx0, top_base + 8, rx0, low_base - 62, arrow=True, cls="f-line f-muted")
    svg.line(rx1, top_base + 8, x_tau + 4, low_base - 62, arrow=True, cls="f-line f-muted")
    svg.text(rx0 + 8, top_base + 40, "contract into [0, ρ]", anchor="start", size=SMALL)
    svg.text((rx0 + x_tau) / 2, low_base + 40, "old, contracted", size=SMALL)
    svg.text((x_tau + rx1) / 2, low_base + 40, "new vectors", size=SMALL, cls="f-text f-accent")
    svg.text(WIDTH / 2, 292, "the memory keeps the same number of coefficients however long "
             "the text; beside it, an XL-style short-term memory", size=SMALL,
             cls="f-text f-muted")
    return svg


# ## Infini-attention
#
# One head, one segment: read the memory $(\mathcal{M}_{\tau-1}, z_{\tau-1})$ with the segment's queries,
# attend inside the segment as usual, mix the two with the gate $\beta$, and only then write
# the segment's keys and values into the memory handed to segment $\tau+1$.


def _box(svg: Svg, x, y, w, h, lines: list[str], cls="f-box"):
    svg.rect(x, y, w, h, cls)
    first = y + h / 2 - (len(lines) - 1) * 8 + 5
    for k, words in enumerate(lines):
        svg.text(x + w / 2, first + 16 * k, words, size=SMALL if k else FONT)


def infini_attention() -> Svg:
    svg = Svg(height=300, name="fig-infini",
              title="Infini-attention: read the compressive memory, attend within the segment, "
                    "gate, then write the segment into the memory")
    _box(svg, 20, 120, 110, 50, ["segment τ", "Q, K, V"], cls="f-box f-seg")
    _box(svg, 20, 220, 110, 50, ["ℳ_{τ−1}, z_{τ−1}", "from segment τ−1"], cls="f-box f-mem")
    _box(svg, 190, 40, 190, 50, ["attention in segment", "causal softmax → A_{dot}"])
    _box(svg, 190, 150, 190, 50, ["read memory", "φ(Q)ℳ / φ(Q)z → A_{mem}"])
    _box(svg, 440, 95, 130, 60, ["gate β", "mix A_{mem}, A_{dot}"])
    _box(svg, 190, 235, 190, 50, ["write memory", "ℳ + φ(K)ᵀV, z + Σφ(K)"])
    _box(svg, 600, 220, 110, 50, ["ℳ_τ, z_τ", "to segment τ+1"], cls="f-box f-mem")
    _box(svg, 600, 100, 110, 50, ["output", "then W_O"], cls="f-box")
    svg.line(130, 138, 190, 70, arrow=True)
    svg.line(130, 150, 190, 172, arrow=True)
    svg.line(130, 162, 190, 250, arrow=True)
    svg.line(130, 240, 190, 186, arrow=True)
    svg.line(130, 252, 190, 258, arrow=True, cls="f-line f-muted")
    svg.line(380, 65, 440, 115, arrow=True)
    svg.line(380, 175, 440, 138, arrow=True)
    svg.line(570, 125, 600, 125, arrow=True)
    svg.line(380, 260, 600, 245, arrow=True, dashed=True)
    svg.text(490, 272, "detached or not: the memory_grad option", size=SMALL,
             cls="f-text f-muted")
    svg.text(20, 24, "read before write: the segment's own keys reach its queries only "
             "through the local attention", anchor="start", size=SMALL, cls="f-text f-muted")
    return svg


# ## Memorizing Transformer
#
# The kNN-augmented layer only (every other layer is Transformer-XL's): the segment's queries
# attend locally as in Transformer-XL and, through a top-$k$ search, over the external table;
# a gate per head mixes the two reads; the segment's keys and values are written into the
# table afterwards, with no gradient, evicting the oldest pairs.


def memorizing_transformer() -> Svg:
    svg = Svg(height=300, name="fig-knn",
              title="Memorizing Transformer: one layer reads its local context and the top k "
                    "pairs of an external key-value table, gates the two, then writes the "
                    "segment's keys and values into the table")
    _box(svg, 20, 120, 110, 50, ["segment τ", "q̂, k̂, v"], cls="f-box f-seg")
    _box(svg, 20, 225, 110, 50, ["kNN table", "C pairs, no gradient"], cls="f-box f-mem")
    _box(svg, 190, 40, 190, 50, ["local attention", "XL memory + segment → v_c"])
    _box(svg, 190, 150, 190, 50, ["top-k search (faiss)", "attend over k pairs → v_m"])
    _box(svg, 440, 95, 130, 60, ["gate g per head", "g v_m + (1−g) v_c"])
    _box(svg, 190, 235, 190, 50, ["write k̂, v", "evict the oldest (FIFO)"])
    _box(svg, 600, 225, 110, 50, ["kNN table", "for segment τ+1"], cls="f-box f-mem")
    _box(svg, 600, 100, 110, 50, ["output", "to the next layer"], cls="f-box")
    svg.line(130, 138, 190, 70, arrow=True)
    svg.line(130, 150, 190, 172, arrow=True)
    svg.line(130, 162, 190, 250, arrow=True)
    svg.line(130, 245, 190, 186, arrow=True)
    svg.line(380, 65, 440, 115, arrow=True)
    svg.line(380, 175, 440, 138, arrow=True)
    svg.line(570, 125, 600, 125, arrow=True)
    svg.line(380, 260, 600, 250, arrow=True, dashed=True)
    svg.text(20, 24, "one layer near the top; the others are Transformer-XL layers; "
             "the table grows with the text up to C", anchor="start", size=SMALL,
             cls="f-text f-muted")
    return svg


# ## Recurrent Memory Transformer
#
# Two consecutive segments. Each row is what the unchanged transformer reads: $M$ read tokens
# (the memory), the segment, $M$ write tokens. The outputs at the write positions become the
# next segment's read tokens; gradients flow back along that arrow within an unroll.


def recurrent_memory() -> Svg:
    svg = Svg(height=250, name="fig-rmt",
              title="Recurrent Memory Transformer: read tokens before each segment, write "
                    "tokens after it; the write tokens' outputs are the next segment's memory")
    m, seg, gap = 2, 5, 36
    width = (2 * m + seg) * PITCH
    x0 = 20
    for k, label in enumerate(("segment τ", "segment τ+1")):
        x = x0 + k * (width + gap)
        read = _slots(svg, x, 120, m, "f-mem")
        body = _slots(svg, x + m * PITCH, 120, seg, "f-seg")
        write = _slots(svg, x + (m + seg) * PITCH, 120, m, "f-mem", dashed=True)
        svg.rect(x - 4, 70, width, 30, "f-box")
        svg.text(x + width / 2, 90, "the same transformer, all layers", size=SMALL)
        _bracket(svg, read[0] - CELL / 2, read[-1] + CELL / 2, 162, "read", below=True)
        _bracket(svg, body[0] - CELL / 2, body[-1] + CELL / 2, 162, label, below=True)
        _bracket(svg, write[0] - CELL / 2, write[-1] + CELL / 2, 162, "write", below=True)
        for c in read + body + write:
            svg.line(c, 120, c, 100, cls="f-thin")
        if k == 0:
            out = write
        else:
            into = read
    # The write outputs of segment τ feed the read tokens of segment τ+1.
    svg.path(f"M{out[0]:.1f},70 C{out[0]:.1f},30 {into[0]:.1f},30 {into[0]:.1f},70", arrow=True)
    svg.text((out[0] + into[0]) / 2, 30, "memory: M vectors", size=SMALL)
    svg.text(WIDTH / 2, 212, "read tokens are seen by every position; write tokens see everything",
             size=SMALL, cls="f-text f-muted")
    svg.text(WIDTH / 2, 230, "gradients follow the memory back across the segments of an unroll",
             size=SMALL, cls="f-text f-muted")
    return svg


# ## The memory-depth study
#
# A Transformer-XL whose memory length is set per layer: long in a few layers, short in the
# rest. Bars are drawn to scale (memory lengths 128 and 16 against segments of 32, the sweep's
# settings), for the three placements of two long-range layers in four.


def memory_depth() -> Svg:
    svg = Svg(height=250, name="fig-depth",
              title="Memory-depth study: Transformer-XL with long memories in some layers and "
                    "short ones in the others, placed first, interleaved or last")
    long, short, segment, layers = 128, 16, 32, 4
    scale = 0.9                           # units per position
    placements = {"first": {0, 1}, "interleaved": {1, 3}, "last": {2, 3}}
    column = 235
    for p, (name, long_layers) in enumerate(placements.items()):
        x_right = 40 + column * p + 200   # where every segment ends
        svg.text(x_right - 100, 24, name)
        for n in range(layers):
            y = 180 - n * 42
            length = long if n in long_layers else short
            seg_x = x_right - segment * scale
            svg.rect(seg_x, y, segment * scale, CELL, "f-seg", rx=2)
            svg.rect(seg_x - length * scale - 3, y, length * scale, CELL,
                     "f-mem" if length == long else "f-mem f-short", dashed=True, rx=2)
            if p == 0:
                svg.text(seg_x - length * scale - 10, y + 16, f"layer {n + 1}", anchor="end",
                         size=SMALL)
    svg.text(WIDTH / 2, 226, f"segment {segment} (blue); memory per layer {long} or {short} "
             "positions (dashed), to scale", size=SMALL, cls="f-text f-muted")
    svg.text(WIDTH / 2, 242, "the paper: long memory in the first layers is the worst placement",
             size=SMALL, cls="f-text f-muted")
    return svg


# ## Captions
#
# Markdown, so they can hold maths; they sit under the figure.

FIGURES = {
    "transformer_xl": (transformer_xl,
                       "Segment-level recurrence. Each layer $n$ attends over the cached states "
                       "$h^{n-1}$ of the previous segment (the memory, no gradient) and the "
                       "current segment up to the query. Because layer $n$ reads what layer "
                       "$n-1$ remembered, each layer below the top adds a segment to the reach."),
    "compressive": (compressive,
                    "Per layer, two FIFO memories. The segment attends over compressed memory, "
                    "memory and itself; then it joins the memory $M$, the $L$ oldest memories "
                    "go through $f_c$ into $L / c$ compressed slots of $M_c$, and the oldest "
                    "compressed slots fall off."),
    "infinity_former": (infinity_former,
                        "The long-term memory is a signal $\\bar X(t) = B^\\top \\psi(t)$ over "
                        "$t \\in [0, 1]$; a query reads it through a Gaussian $\\mathcal{N}(\\mu, "
                        "\\sigma^2)$ instead of a softmax. New text: sample the old signal, "
                        "contract it into $[0, \\rho]$, place the new vectors on $[\\rho, 1]$ "
                        "and fit $B$ again (computed here with a real ridge regression)."),
    "infini_attention": (infini_attention,
                         "One head, one segment. The memory $(\\mathcal{M}_{\\tau-1}, z_{\\tau-1})$ is read with "
                         "$\\phi(Q)$, ordinary causal attention runs inside the segment, the "
                         "gate $\\beta$ mixes the two, and the segment's keys and values are "
                         "then added into $(\\mathcal{M}_\\tau, z_\\tau)$ for the next segment."),
    "memorizing_transformer": (memorizing_transformer,
                               "The kNN-augmented layer. Its queries attend locally (Transformer-XL's "
                               "memory and the segment) and over the top $k$ of $C$ stored pairs found "
                               "by a nearest-neighbour search; a gate $g$ per head mixes the two. The "
                               "segment's normalised keys and values are then written into the table, "
                               "with no gradient, and the oldest pairs leave."),
    "recurrent_memory": (recurrent_memory,
                         "Memory tokens around each segment: $M$ read tokens before it hold the "
                         "memory, $M$ write tokens after it produce the next one. The transformer "
                         "itself is unchanged; within an unroll the gradient follows the memory "
                         "back from segment to segment."),
    "memory_depth": (memory_depth,
                     "The same Transformer-XL with memory lengths per layer, drawn to scale: "
                     "two long-range layers out of four, placed first, interleaved or last."),
}


def figure(package: str) -> tuple[str, str] | None:
    """The SVG and the Markdown caption of an architecture package, or None."""
    if package not in FIGURES:
        return None
    draw, caption = FIGURES[package]
    return draw().render(), caption
