"""core/pdf_layout.py: what xhtml2pdf did once per table cell done once per shape, width or table, with the same
drawing; and the collector paused while an invoice renders (billing.pdf.xhtml_pdf)."""

import gc
import io
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from pypdf import PdfReader
from xhtml2pdf import parser as xhtml2pdf_parser
from xhtml2pdf import pisa
from xhtml2pdf import util as xhtml2pdf_util
from xhtml2pdf.document import pisaStory
from xhtml2pdf.w3c.css import CSSCascadeStrategy
from xhtml2pdf.xhtml2pdf_reportlab import PmlFrame, PmlKeepInFrame, PmlParagraph, PmlTable

from billing.pdf import _provider, invoice_default_css, invoice_html_pdf, page_labels
from core import pdf_layout


def mci_html(rows: int) -> str:
    """templates/pdf/invoice.html for a Month Closing Invoice with `rows` usage rows, in English."""
    context = {
        "provider": _provider(), "title": "Month Closing Invoice", "number": "MCI-2026-000001",
        "issue_date": "1 Nov 2026", "due_date": "1 Nov 2026", "billing_period": "1 Oct 2026 – 31 Oct 2026",
        "status": "Pending", "stamp": None, "stamp_text": "", "paid_date": "", "hub_id": "HUB-000123",
        "company": {"name": "Acme Messaging GmbH", "address_lines": ["Torstraße 12", "10119 Berlin"],
                    "country": "Germany", "vat_id": "DE811907980", "tax_id": "", "email": "billing@acme.example"},
        "lines": [{"description": "WhatsApp Usage Costs", "quantity": "1", "unit_amount": "€1,234.56",
                   "amount": "€1,234.56"}],
        "tax_row": None, "amount_payable": "€1,234.56", "tax_note": "", "charged_automatically": False,
        "is_mci": True, "summary_rows": [("starting_balance", "Starting Balance", "€500.00"),
                                          ("ending_balance", "Ending Balance", "€265.44")],
        "usage_rows": [
            {"waba_id": "104857600123456", "phone_number": f"+49151234567{n:02d}", "category": "Marketing",
             "market": "Germany", "messages": "1,234", "cost": "€24.69"}
            for n in range(rows)
        ],
    }  # fmt: skip
    with translation.override("en"):
        return render_to_string("pdf/invoice.html", context)


def render(html: str) -> bytes:
    with translation.override("en"):
        labels = page_labels()
    return invoice_html_pdf(html=html, labels=labels, number="MCI-2026-000001")


def page_streams(pdf: bytes) -> list[list[str]]:
    """What each page draws: its content stream's operators and operands."""
    return [page.get_contents().get_data().decode("latin-1").split() for page in PdfReader(io.BytesIO(pdf)).pages]


def same_drawing(ours: list[list[str]], theirs: list[list[str]]) -> bool:
    """The same operators and operands, numbers equal to a ten-thousandth of a point: a cell is drawn at the width
    it was measured at, where ReportLab drew it 1e-8 pt narrower, which moves right-aligned text by that much, and
    the file's figures (seven digits) round it either way."""

    def same(a: str, b: str) -> bool:
        if a == b:
            return True
        try:
            return abs(float(a) - float(b)) <= 1e-4
        except ValueError:
            return False

    return len(ours) == len(theirs) and all(
        len(a) == len(b) and all(map(same, a, b)) for a, b in zip(ours, theirs, strict=True)
    )


def tables(html: str) -> list[PmlTable]:
    """The tables of the story xhtml2pdf builds from `html` with the invoice's stylesheet (no layout)."""
    with translation.override("en"):
        story = pisaStory(html, default_css=invoice_default_css()).story
    return [flowable for flowable in story if isinstance(flowable, PmlTable)]


def cell_colors(table: PmlTable) -> list[list[str]]:
    return [[cell._content[0].style.textColor.hexval() for cell in row] for row in table._cellvalues]


def test_the_rows_of_a_table_share_the_cascade_and_a_second_invoice_runs_none_of_it(monkeypatch):
    cascades = []
    cascade = CSSCascadeStrategy.findStylesForElement

    def counted(self, *args, **kwargs):
        cascades.append(1)
        return cascade(self, *args, **kwargs)

    monkeypatch.setattr(CSSCascadeStrategy, "findStylesForElement", counted)
    pdf_layout._resolved.clear()  # as in a fresh worker
    html = mci_html(rows=40)

    render(html)
    first = len(cascades)
    cascades.clear()
    render(mci_html(rows=25))

    # 40 usage rows alone were 120 cascades (each row's <tr>, <td> and <td class="num">): now the whole invoice
    # is fewer, one per element shape
    assert first < 100
    assert cascades == []  # the next invoice, with other rows, finds every shape resolved


def test_the_shared_styles_are_looked_through_for_rem_lengths_once(monkeypatch):
    looks = []
    look = xhtml2pdf_parser._resolveRootEm

    def counted(value, root):
        looks.append(1)
        return look(value, root)

    html = mci_html(rows=40)
    render(html)
    monkeypatch.setattr(xhtml2pdf_parser, "_resolveRootEm", counted)
    render(html)

    assert looks == []  # every element's styles were a shape's, already looked through (~4,000 looks before)


def test_a_rem_length_is_still_resolved_against_the_root():
    html = (
        "<html><head><style>html { font-size: 20pt } td { font-size: 0.5rem }</style></head><body>"
        "<table><tr><td>1</td></tr><tr><td>2</td></tr></table></body></html>"
    )

    for _ in range(2):  # the second time from the shared styles
        assert [row[0]._content[0].style.fontSize for row in tables(html)[0]._cellvalues] == [10.0, 10.0]


def test_styles_that_depend_on_a_row_are_told_apart():
    html = (
        "<html><head><style>.a td { color: #ff0000 } .b td { color: #0000ff } td:first-child { color: #00aa00 }"
        "</style></head><body><table><tr class='a'><td>1</td><td>2</td></tr><tr class='b'><td>3</td><td>4</td></tr>"
        "<tr class='a'><td>5</td><td>6</td></tr></table></body></html>"
    )

    assert cell_colors(tables(html)[0]) == [
        ["0x00aa00", "0xff0000"],
        ["0x00aa00", "0x0000ff"],
        ["0x00aa00", "0xff0000"],
    ]


def test_a_rule_on_an_ancestors_position_leaves_the_cascade_per_element():
    """`tr:first-child td` depends on which row the cell is in, which a shape does not say: chain_safe refuses
    the stylesheet, and every row is resolved on its own as xhtml2pdf does."""
    html = (
        "<html><head><style>td { color: #0000ff } tr:first-child td { color: #ff0000 }</style></head><body>"
        "<table><tr><td>1</td></tr><tr><td>2</td></tr><tr><td>3</td></tr></table></body></html>"
    )

    assert cell_colors(tables(html)[0]) == [["0xff0000"], ["0x0000ff"], ["0x0000ff"]]


def test_one_paragraph_cells_are_laid_out_without_copies_of_the_frame_measured_once_and_drawn_the_same(monkeypatch):
    html = mci_html(rows=50)  # two pages: the usage table is split, its header repeated
    frame_copies, wraps = [], {}
    frame_copy, paragraph_wrap = PmlFrame.__deepcopy__, PmlParagraph.wrap

    def copied(self, memo):
        frame_copies.append(1)
        return frame_copy(self, memo)

    def wrapped(self, available_width, available_height):
        if self.text.startswith("+49151"):  # a usage row's phone number cell
            wraps[id(self)] = wraps.get(id(self), 0) + 1
        return paragraph_wrap(self, available_width, available_height)

    monkeypatch.setattr(PmlFrame, "__deepcopy__", copied)
    monkeypatch.setattr(PmlParagraph, "wrap", wrapped)
    fast = page_streams(render(html))
    fast_copies, fast_wraps = len(frame_copies), max(wraps.values())

    frame_copies.clear()
    wraps.clear()
    monkeypatch.setattr(PmlKeepInFrame, "wrap", pdf_layout._kif_wrap)  # xhtml2pdf's own
    monkeypatch.setattr(PmlKeepInFrame, "drawOn", pdf_layout._kif_draw_on)
    assert same_drawing(fast, page_streams(render(html)))
    assert len(frame_copies) > 1000  # three or four per cell: 50 rows × 6 cells
    assert min(wraps.values()) >= 3
    assert fast_copies < 100  # the cells of several paragraphs (the header's)
    assert fast_wraps == 1  # measured once, where ReportLab measured it for the row heights, the page cut, the draw


def test_a_table_carries_a_few_merged_style_commands_with_the_same_cell_settings_and_the_same_lines(monkeypatch):
    html = mci_html(rows=50)
    merged = tables(html)
    monkeypatch.setattr(PmlTable, "__init__", pdf_layout._table_init)  # xhtml2pdf's own commands
    raw = tables(html)

    usage_raw, usage = raw[-1], merged[-1]
    assert len(usage_raw._linecmds) == 300  # a border below each cell of the 50 rows
    assert len(usage._linecmds) == 1  # one command for all of them
    for before, after in zip(raw, merged, strict=True):
        assert settings(after) == settings(before)
        assert drawn_edges(after) == drawn_edges(before)
        assert after._bkgrndcmds == before._bkgrndcmds


def settings(table: PmlTable) -> list[list[dict]]:
    return [[vars(style) for style in row] for row in table._cellStyles]


def drawn_edges(table: PmlTable) -> tuple[dict, set]:
    """Every cell edge a line command strokes, with the last stroke over it (what shows) and all strokes (ink)."""
    last, every = {}, set()
    ncols, nrows = table._ncols, table._nrows
    for op, (sc, sr), (ec, er), *stroke in table._linecmds:
        sc, ec = (c + ncols if c < 0 else c for c in (sc, ec))
        sr, er = (r + nrows if r < 0 else r for r in (sr, er))
        for row in range(sr, er + 1):
            for column in range(sc, ec + 1):
                edge = {
                    "LINEABOVE": ("h", row, column), "LINEBELOW": ("h", row + 1, column),
                    "LINEBEFORE": ("v", column, row), "LINEAFTER": ("v", column + 1, row),
                }[op]  # fmt: skip
                last[edge] = tuple(map(repr, stroke))
                every.add((edge, last[edge]))
    return last, every


def test_merging_keeps_a_line_drawn_between_two_others_between_them():
    commands = [
        ("LINEBELOW", (0, 0), (0, 0), 1, "red"),
        ("LINEBELOW", (0, 0), (0, 0), 2, "blue"),  # over the red one
        ("LINEBELOW", (1, 0), (1, 0), 1, "red"),  # could join the first only by moving under the blue one
        ("LINEBELOW", (2, 0), (2, 0), 1, "red"),
    ]

    assert pdf_layout.merged_commands(commands, ncols=3, nrows=1) == [
        ("LINEBELOW", (0, 0), (0, 0), 1, "red"),
        ("LINEBELOW", (0, 0), (0, 0), 2, "blue"),
        ("LINEBELOW", (1, 0), (2, 0), 1, "red"),
    ]


def test_cell_settings_become_rectangles_of_their_final_values():
    commands = [
        ("LEFTPADDING", (0, 0), (-1, -1), 0),  # the table's
        *(("LEFTPADDING", (c, r), (c, r), 5) for r in range(3) for c in range(2)),
        ("LEFTPADDING", (1, 1), (1, 1), 9),
        ("VALIGN", (0, 0), (1, 2), "TOP"),
    ]

    # 5 5 0 / 5 9 0 / 5 5 0, each cell in one rectangle
    assert pdf_layout.merged_commands(commands, ncols=3, nrows=3) == [
        ("LEFTPADDING", (0, 0), (1, 0), 5),
        ("LEFTPADDING", (0, 1), (0, 1), 5),
        ("LEFTPADDING", (1, 1), (1, 1), 9),
        ("LEFTPADDING", (0, 2), (1, 2), 5),
        ("LEFTPADDING", (2, 0), (2, 2), 0),
        ("VALIGN", (0, 0), (1, 2), "TOP"),
    ]


def test_the_collector_does_not_run_while_an_invoice_renders_and_runs_again_after(monkeypatch):
    rendering, collections = [], []
    create_pdf = pisa.CreatePDF

    def watched(*args, **kwargs):
        rendering.append(True)
        try:
            return create_pdf(*args, **kwargs)
        finally:
            rendering.pop()

    def collector(phase, info):
        if phase == "start":
            collections.append(bool(rendering))

    monkeypatch.setattr(pisa, "CreatePDF", watched)
    threshold = gc.get_threshold()
    gc.set_threshold(50)  # a collection every 50 allocations, were it running
    gc.callbacks.append(collector)
    try:
        render(mci_html(rows=5))
        [object() for _ in range(1000)]  # noqa: B018 (allocations after the render)
    finally:
        gc.callbacks.remove(collector)
        gc.set_threshold(*threshold)

    assert True not in collections  # none during the render
    assert False in collections  # and collections again after it
    assert gc.isenabled()


@pytest.mark.parametrize("extras", [None, 2.0])
def test_transform_attrs_assigns_what_xhtml2pdfs_does(extras):
    container = {"margin-top": "3", "padding-left": "4"}
    keys = (("spaceBefore", "margin-top"), ("paddingLeft", "padding-left"), ("spaceAfter", "margin-bottom"))
    ours, theirs = SimpleNamespace(), SimpleNamespace()

    pdf_layout.transform_attrs(ours, keys, container, lambda *values: values, extras)
    xhtml2pdf_util.transform_attrs(theirs, keys, container, lambda *values: values, extras)

    assert (ours.spaceBefore, ours.paddingLeft) == (theirs.spaceBefore, theirs.paddingLeft)
    assert not hasattr(ours, "spaceAfter")


def test_copy_attrs_copies_what_xhtml2pdfs_does():
    class Frag:
        fontName, fontSize = "DejaVuSans", 8.5

    ours, theirs = Frag(), Frag()
    names = ("fontName", "fontSize", "missing")

    pdf_layout.copy_attrs(ours, Frag(), names)
    xhtml2pdf_util.copy_attrs(theirs, Frag(), names)

    assert vars(ours) == vars(theirs) == {"fontName": "DejaVuSans", "fontSize": 8.5, "missing": None}
