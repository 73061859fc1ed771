"""Three costs of xhtml2pdf's layout that an invoice pays per table cell, cut without changing what is drawn.

Installed once, on import (billing/pdf.py imports this module), for every xhtml2pdf document of the process; the
invoice and credit note PDFs are the only ones. Measured on a Month Closing Invoice with 50 usage rows (bench/pdf.py);
the pages come out as before, to the pixel (tests/billing/test_pdf_layout.py compares what they draw).

1. The style cascade, once per element shape rather than once per row (shape_cache_key). xhtml2pdf keeps the CSS
   it resolved for an element under a key of the element's tag, class, id and style *and its parent node*: siblings
   share it, but a cell of the next row has another parent, so each table row ran the whole cascade again for its
   <tr> and every <td>. Here the parent is named by its own shape (the same key one level up, made a small integer),
   so every row of a table shares one entry per column. That is exact while no rule looks at anything of an ancestor
   other than its tag, class and id (descendant and child combinators only): chain_safe checks the stylesheets once
   per document and leaves xhtml2pdf's own key in place otherwise. An element selected by position (:first-child,
   :last-child …) keeps its own key, as does everything under it. Keyed by shape, the resolved styles hold for
   every document with the same stylesheets, so they are kept for the process (ShapeStyles): after the first
   invoice of a kind, no element of the next one runs the cascade at all. What is left per element, the look for
   `rem` lengths in the shared styles, is remembered on them (resolve_root_em).

2. A table cell holding one paragraph laid out without a copy of the page frame (PmlKeepInFrame wrap/drawOn),
   and measured once per width (_paragraph_size).
   Every cell is a KeepInFrame; ReportLab measures its content through _listWrapOn, which deep-copies the document's
   current frame on every call (each cell is measured three or four times: row heights, the page split, the draw),
   and the draw measured the paragraph once more at a width 1e-8 pt narrower, which broke its lines again. For one
   paragraph that fits, the same arithmetic is done directly and the draw reuses the width it was measured at
   (right-aligned text moves by that 1e-8 pt, which shows in the seventh digit of the file's figures); anything else
   (several flowables, content that has to shrink, a subclass) goes through ReportLab as before.

3. A table's style commands merged (merged_table_style). xhtml2pdf describes every cell's box with its own
   commands (four paddings, a vertical alignment, a line per border side): a 50-row table carried ~2,000, which
   ReportLab parses one by one and, when the table is split across pages, copies and re-parses for each part. Cell
   settings are resolved to their final value per cell and given back as rectangles of equal values; runs of the
   same border line on adjacent cells become one line command over the run (drawn as the same segments), only
   between line commands that follow each other, so no line moves over or under another.

4. Two helpers every element goes through, without their general cases' overhead (transform_attrs, copy_attrs:
   the same assignments; a list of extras or a dict source still goes to xhtml2pdf's own).
"""

from reportlab import rl_config
from reportlab.platypus.flowables import _FUZZ
from reportlab.platypus.tables import TableStyle
from xhtml2pdf import context as xhtml2pdf_context
from xhtml2pdf import parser as xhtml2pdf_parser
from xhtml2pdf import properties as xhtml2pdf_properties
from xhtml2pdf import util as xhtml2pdf_util
from xhtml2pdf.w3c import css
from xhtml2pdf.xhtml2pdf_reportlab import PmlKeepInFrame, PmlParagraph, PmlTable

# 1. The cascade per element shape --------------------------------------------------------------------------------

_element_key = xhtml2pdf_parser.getCSSAttrCacheKey
# Shape keys (whose parent is itself a shape number) → shape numbers, for the process: the keys hold only strings and
# numbers, and an invoice has a few dozen shapes. Emptied if some other document ever brings thousands.
_shapes: dict = {}
_SHAPES_MAX = 10_000
ROOT_PARENT = 0  # the shape number of what the root element hangs from (the document node)


class ChainSafeTags(set):
    """The context's positional tag names (xhtml2pdf's own set, unchanged), marking a document whose stylesheets
    chain_safe accepted: getCSSAttrCacheKey is handed this set, and nothing else of the context."""


def _ancestor_compound_safe(selector) -> bool:
    """A compound left of a descendant or child combinator that matches on tag, class and id only."""
    for qualifier in getattr(selector, "qualifiers", ()):
        if isinstance(qualifier, css.CSSSelectorCombinationQualifier):
            if qualifier.op not in {" ", ">"} or not _ancestor_compound_safe(qualifier.selector):
                return False
        elif not (qualifier.isClass() or qualifier.isHash()):
            return False
    return True


def chain_safe(cascade) -> bool:
    """Whether every rule selects an element by its own qualifiers and its ancestors' tag, class and id alone: no
    sibling combinator, no attribute or pseudo-class on an ancestor, no :not()/:is()/:has() (whose arguments may
    look anywhere). Then an element's styles follow from its own key and its parent's shape."""
    for ruleset in cascade.iterCSSRulesets():
        for selector in ruleset:
            for qualifier in getattr(selector, "qualifiers", ()):
                if isinstance(qualifier, css.CSSSelectorCombinationQualifier):
                    if qualifier.op not in {" ", ">"} or not _ancestor_compound_safe(qualifier.selector):
                        return False
                elif isinstance(qualifier, css.CSSSelectorLogicalQualifier):
                    return False
    return True


def shape_cache_key(node, positional_tags=frozenset(), attribute_names=frozenset()):
    """xhtml2pdf's cascade cache key with the parent node replaced by the parent's shape number; records the
    element's own shape number for its children. xhtml2pdf's key, unchanged, where that is not exact."""
    key = _element_key(node, positional_tags, attribute_names)
    if not isinstance(positional_tags, ChainSafeTags) or key.position is not None:
        return key  # a positional element differs from its look-alikes by where it is: its own key, no shape
    if any(node.hasAttribute(name) for name in xhtml2pdf_parser.nonStandardAttrNames):
        return key  # bgcolor="…" is written into the resolved styles after the cache: they are this element's own
    parent = node.parentNode
    if parent is None or parent.nodeType != parent.ELEMENT_NODE:
        parent_shape = ROOT_PARENT
    else:
        parent_shape = getattr(parent, "_invoice_shape", None)
        if parent_shape is None:
            return key  # under a positional element (or one visited out of order): as xhtml2pdf keys it
    key = key._replace(parent=parent_shape)
    shape = _shapes.get(key)
    if shape is None:
        if len(_shapes) >= _SHAPES_MAX:
            _shapes.clear()
            _resolved.clear()  # keyed by shape numbers, which start again
        shape = _shapes[key] = len(_shapes) + 1
    node._invoice_shape = shape
    return key


# The styles resolved per shape, for the process, per set of stylesheets (xhtml2pdf's default CSS text and the
# document's own sheets): every invoice has the same ones, so after the first render of a kind no element of the
# next one runs the cascade. Only shape keys go here (their parent is a number, never a node).
_resolved: dict[tuple, dict] = {}
_STYLESHEETS_MAX = 16


class ShapeStyles(dict):
    """A context's cssAttrCache: entries keyed by shape in the process-wide _resolved for its stylesheets, the rest
    (keyed by a parent node) the document's own, emptied at its end as before (pisaParser calls clear())."""

    def __init__(self, shared: dict) -> None:
        super().__init__()
        self.shared = shared

    def get(self, key, default=None):
        if type(key.parent) is int:
            return self.shared.get(key, default)
        return super().get(key, default)

    def __setitem__(self, key, value) -> None:
        if type(key.parent) is int:
            if len(self.shared) >= _SHAPES_MAX:
                self.shared.clear()
            self.shared[key] = value
        else:
            super().__setitem__(key, value)


_parse_css = xhtml2pdf_context.pisaContext.parseCSS


def _parse_css_marking_chain_safe(self):
    result = _parse_css(self)
    if chain_safe(self.cssCascade):
        self.cssPositionalTags = ChainSafeTags(self.cssPositionalTags)
        sheets = (self.cssDefaultText, tuple(self.cssSources))
        if sheets not in _resolved and len(_resolved) >= _STYLESHEETS_MAX:
            _resolved.clear()
        self.cssAttrCache = ShapeStyles(_resolved.setdefault(sheets, {}))
    return result


_resolve_root_em = xhtml2pdf_parser.resolveRootEm


def resolve_root_em(attrs, c):
    """parser.resolveRootEm, which hands back `attrs` itself when none of its values is in rem, remembering that
    on them: they are a shape's styles now, handed to each of its elements. Entries are only ever added to them
    afterwards (an inherited value looked up, a bgcolor mapped), so their count tells whether to look again."""
    if getattr(attrs, "_without_rem", None) == len(attrs):
        return attrs
    resolved = _resolve_root_em(attrs, c)
    if resolved is attrs:
        attrs._without_rem = len(attrs)
    return resolved


# 2. One-paragraph table cells ------------------------------------------------------------------------------------

_kif_wrap = PmlKeepInFrame.wrap
_kif_draw_on = PmlKeepInFrame.drawOn


def _paragraph_size(paragraph, canv, width: float) -> tuple[float, float]:
    """paragraph.wrapOn(canv, width, <unbounded>), skipped when the paragraph's lines are still those of the last
    such call at this width: its lines (blPara) the same object and its size unchanged (any wrap at another width
    in between, a row cut for one, makes new lines). Not for a paragraph holding a page number, whose text changes
    from page to page."""
    fit = paragraph.__dict__.get("_cell_fit")
    if (
        fit is not None
        and fit[0] == width
        and fit[1] is paragraph.__dict__.get("blPara")
        and (paragraph.width, paragraph.height) == fit[2]
    ):
        return fit[2]
    size = paragraph.wrapOn(canv, width, 0xFFFFFFF)
    if not any(hasattr(getattr(frag, "text", None), "resolve") for frag in paragraph.frags):
        paragraph._cell_fit = (width, paragraph.blPara, size)
    return size


def _cell_wrap(self, availWidth, availHeight):  # noqa: N803 (ReportLab's names)
    """PmlKeepInFrame.wrap and KeepInFrame.wrap's arithmetic for one paragraph that fits, without _listWrapOn's
    copy of the frame (a paragraph reads nothing of the frame and adds no generated content to it)."""
    content = self._content
    if type(self) is not PmlKeepInFrame or len(content) != 1 or type(content[0]) is not PmlParagraph:
        self.__dict__.pop("_fit_width", None)
        return _kif_wrap(self, availWidth, availHeight)
    availWidth, availHeight = max(availWidth, 1.0), max(availHeight, 1.0)
    self.maxWidth = availWidth
    self.maxHeight = self.setMaxHeight(availHeight)
    # Lengths in PDF points (not money), as ReportLab's KeepInFrame.wrap computes them: same floats, same layout.
    max_width = float(min(self.maxWidth or availWidth, availWidth))
    max_height = float(min(self.maxHeight or availHeight, availHeight))
    fake_width = rl_config.listWrapOnFakeWidth if self.fakeWidth is None else self.fakeWidth
    w, h = _paragraph_size(content[0], self.canv, max_width)
    width, height = (0, 0) if h <= _FUZZ else ((min(w, max_width) if fake_width else w), h)
    if width > max_width + _FUZZ or height > max_height + _FUZZ:
        self.__dict__.pop("_fit_width", None)
        return _kif_wrap(self, availWidth, availHeight)  # it has to shrink: ReportLab's search for the scale
    self.width, self.height = width - _FUZZ, height - _FUZZ
    self._fit_width = max_width
    return self.width, self.height


def _cell_draw_on(self, canv, x, y, _sW=0):  # noqa: N803
    """_Container.drawOn for the one paragraph _cell_wrap measured, at the width it was measured at."""
    width = self.__dict__.get("_fit_width")
    frame = getattr(self, "_frame", None)
    backgrounds = getattr(frame, "_frameBGs", None)
    if (
        width is None
        or getattr(self, "_scale", 1.0) != 1.0
        or self.mode == "truncate"
        or (backgrounds and backgrounds[-1].active)
    ):
        return _kif_draw_on(self, canv, x, y, _sW)
    paragraph = self._content[0]
    w, h = _paragraph_size(paragraph, canv, width)
    if h < _FUZZ and not getattr(paragraph, "_ZEROSIZE", None):
        return None
    paragraph._frame = frame
    paragraph.drawOn(canv, self._hAlignAdjust(x, _sW), y + self.height - h, _sW=width - w)
    del paragraph._frame
    return None


# 3. Table style commands merged -----------------------------------------------------------------------------------

# Commands that set one attribute of each cell in their range (the last one wins); any other cell setting (FONT
# sets three at once) leaves a table's cell commands as they are.
CELL_SETTINGS = frozenset({"LEFTPADDING", "RIGHTPADDING", "TOPPADDING", "BOTTOMPADDING", "VALIGN", "ALIGN"})
EDGE_LINES = frozenset({"LINEABOVE", "LINEBELOW", "LINEBEFORE", "LINEAFTER"})
OTHER_LINES = frozenset({"GRID", "BOX", "OUTLINE", "INNERGRID"})
NOT_CELL_SETTINGS = frozenset(
    {"BACKGROUND", "ROWBACKGROUNDS", "COLBACKGROUNDS", "SPAN", "NOSPLIT", "ROUNDEDCORNERS"} | EDGE_LINES | OTHER_LINES
)


def _special(command) -> bool:
    return isinstance(command[1][1], str) or isinstance(command[2][1], str)  # 'splitfirst', 'splitlast', …


def _cell_range(command, ncols: int, nrows: int) -> tuple[int, int, int, int]:
    """(first column, first row, last column, last row), negative indices resolved and clipped as ReportLab does."""
    (sc, sr), (ec, er) = command[1], command[2]
    if sc < 0:
        sc = max(0, sc + ncols)
    if sr < 0:
        sr = max(0, sr + nrows)
    if ec < 0 or ec >= ncols:
        ec = ec + ncols if ec < 0 else ncols - 1
    if er < 0 or er >= nrows:
        er = er + nrows if er < 0 else nrows - 1
    return sc, sr, ec, er


def _plain_line(command) -> bool:
    """A solid single opaque line: as one segment or as abutting ones, the same ink (dashes would restart per
    segment, a translucent colour would double where round caps overlap)."""
    dashes = command[6] if len(command) > 6 else None
    count = command[8] if len(command) > 8 else 1
    alpha = getattr(command[4], "alpha", 1) if len(command) > 4 else 1
    return not dashes and (count or 1) == 1 and (alpha is None or alpha >= 1)


def _joined(a, b):
    """a and b as one command when b continues a's range along a row or down a column, else None."""
    (asc, asr), (aec, aer) = a[1], a[2]
    (bsc, bsr), (bec, ber) = b[1], b[2]
    if not ((asr, aer) == (bsr, ber) and aec + 1 == bsc) and not ((asc, aec) == (bsc, bec) and aer + 1 == bsr):
        return None
    return (a[0], (asc, asr), (bec, ber), *a[3:])


def _rectangles(cells: dict, ncols: int, nrows: int) -> list[tuple[int, int, int, int, tuple]]:
    """{(row, column): values} as (first column, first row, last column, last row, values), each cell in one."""
    done, open_runs = [], {}  # (first column, last column) -> [first row, last row, values]
    for row in range(nrows):
        runs, column = [], 0
        while column < ncols:
            if (row, column) not in cells:
                column += 1
                continue
            values, first = cells[row, column], column
            while column + 1 < ncols and cells.get((row, column + 1), _NONE) == values:
                column += 1
            runs.append((first, column, values))
            column += 1
        still_open = {}
        for first, last, values in runs:
            run = open_runs.pop((first, last), None)
            if run is not None and run[2] == values:
                run[1] = row
            else:
                if run is not None:
                    done.append((first, run[0], last, run[1], run[2]))
                run = [row, row, values]
            still_open[first, last] = run
        done.extend((first, run[0], last, run[1], run[2]) for (first, last), run in open_runs.items())
        open_runs = still_open
    done.extend((first, run[0], last, run[1], run[2]) for (first, last), run in open_runs.items())
    return done


_NONE = object()


def _merged_lines(commands: list, ncols: int, nrows: int) -> list:
    """Runs of the same plain border line on adjacent ranges as one command; only a line command that directly
    follows another line command joins it."""
    merged: list = []
    last_line = None  # index in `merged` of the last line command, if it may absorb the next
    for command in commands:
        op = command[0]
        if op in EDGE_LINES and not _special(command) and _plain_line(command):
            sc, sr, ec, er = _cell_range(command, ncols, nrows)
            command = (op, (sc, sr), (ec, er), *command[3:])
            previous = merged[last_line] if last_line is not None else None
            same = previous is not None and previous[0] == op and previous[3:] == command[3:]
            if same and (joined := _joined(previous, command)):
                merged[last_line] = joined
                continue
            last_line = len(merged)
        elif op in EDGE_LINES or op in OTHER_LINES:
            last_line = None  # a line left as it is: nothing after it may be drawn before it
        merged.append(command)
    return merged


def merged_commands(commands: list, ncols: int, nrows: int) -> list:
    """A table's style commands with the same effect in fewer commands (see the module's docstring, 3)."""
    settle_cells = all(c[0] in NOT_CELL_SETTINGS or (c[0] in CELL_SETTINGS and not _special(c)) for c in commands)
    cells: dict[str, dict] = {}
    rest = []
    for command in commands:
        if not (settle_cells and command[0] in CELL_SETTINGS):
            rest.append(command)
            continue
        sc, sr, ec, er = _cell_range(command, ncols, nrows)
        settings = cells.setdefault(command[0], {})
        values = tuple(command[3:])
        if sc == ec and sr == er:  # most are one cell's
            settings[sr, sc] = values
            continue
        for row in range(sr, er + 1):
            for column in range(sc, ec + 1):
                settings[row, column] = values
    # twice: the first pass joins each row's cells, the second the rows
    merged = _merged_lines(_merged_lines(rest, ncols, nrows), ncols, nrows)
    for op, settings in cells.items():
        rectangles = _rectangles(settings, ncols, nrows)
        merged.extend((op, (sc, sr), (ec, er), *values) for sc, sr, ec, er, values in rectangles)
    return merged


def merged_table_style(style: TableStyle, data: list) -> TableStyle:
    ncols = max((len(row) for row in data), default=0)
    if not data or not ncols:
        return style
    merged = TableStyle(merged_commands(style.getCommands(), ncols, len(data)))
    merged._opts = style._opts
    return merged


_table_init = PmlTable.__init__


def _table_init_merging_styles(self, data, *args, style=None, **kwargs):
    if isinstance(style, TableStyle):  # as xhtml2pdf's <table> builds it (tables.pisaTagTABLE.end)
        style = merged_table_style(style, data)
    _table_init(self, data, *args, style=style, **kwargs)


# 4. Per-element helpers --------------------------------------------------------------------------------------------


def transform_attrs(obj, keys, container, func, extras=None):
    """xhtml2pdf.util.transform_attrs: obj.<frag name> = func(css value[, extras]) for each pair whose CSS name is in
    container. A list of extras grows with each pair there (an oddity kept by handing it to the original)."""
    if isinstance(extras, list):
        return xhtml2pdf_util.transform_attrs(obj, keys, container, func, extras)
    if extras is None:
        for frag_name, css_name in keys:
            if css_name in container:
                setattr(obj, frag_name, func(container[css_name]))
    else:
        for frag_name, css_name in keys:
            if css_name in container:
                setattr(obj, frag_name, func(container[css_name], extras))
    return None


def copy_attrs(obj1, obj2, attrs) -> None:
    """xhtml2pdf.util.copy_attrs for a source that is not a dict: each attribute, None where it has none."""
    if isinstance(obj2, dict):
        xhtml2pdf_util.copy_attrs(obj1, obj2, attrs)
        return
    for attr in attrs:
        setattr(obj1, attr, getattr(obj2, attr, None))


def install() -> None:
    xhtml2pdf_parser.getCSSAttrCacheKey = shape_cache_key
    xhtml2pdf_context.pisaContext.parseCSS = _parse_css_marking_chain_safe
    xhtml2pdf_parser.resolveRootEm = resolve_root_em
    PmlKeepInFrame.wrap = _cell_wrap
    PmlKeepInFrame.drawOn = _cell_draw_on
    PmlTable.__init__ = _table_init_merging_styles
    xhtml2pdf_properties.transform_attrs = transform_attrs  # apply_uniform_groups' (CSS2Frag, pisaLoop)
    xhtml2pdf_context.copy_attrs = copy_attrs  # toParagraphStyle's


install()
