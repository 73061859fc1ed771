"""Invoice PDF rendering: PDFs/s for a Month Closing Invoice with 50 usage rows and a one-line License Invoice,
and the month's rendering time for 10,000 MCIs on 2 worker processes. Beside them, in the same run: xhtml2pdf's
floor (a one-paragraph document through the same function) and the MCI with no usage rows, from which the cost of
one usage row (six table cells) follows.

Measures the render itself (templates/pdf/invoice.html through billing.pdf.invoice_html_pdf, as
invoice_pdf_render does), from a context of the shape invoice_pdf_context builds; no database is needed. Prints
wall time and process CPU time per PDF (the machine is shared: CPU time is the steadier figure).

    .venv/bin/python bench/pdf.py [--n 20] [--month 10000]
"""

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hp_bench_perf_pdf")  # never connected


def setup() -> None:
    import django

    django.setup()


def context(*, usage_rows: int, mci: bool) -> dict:
    from billing.pdf import _provider

    return {
        "provider": _provider(),
        "title": "Month Closing Invoice" if mci else "License Invoice",
        "number": "MCI-2026-000001" if mci else "LIC-2026-000001",
        "issue_date": "1 Nov 2026",
        "due_date": "1 Nov 2026",
        "billing_period": "1 Oct 2026 – 31 Oct 2026",
        "status": "Pending",
        "stamp": None,
        "stamp_text": "",
        "paid_date": "",
        "hub_id": "HUB-000123",
        "company": {
            "name": "Acme Messaging GmbH",
            "address_lines": ["Torstraße 12", "10119 Berlin"],
            "country": "Germany",
            "vat_id": "DE811907980",
            "tax_id": "",
            "email": "billing@acme.example",
        },
        "lines": [
            {
                "description": "WhatsApp Usage Costs" if mci else "License +4915110000001 (Regular), November 2026",
                "quantity": "1",
                "unit_amount": "€1,234.56",
                "amount": "€1,234.56",
            }
        ],
        "tax_row": None if mci else {"label": "VAT 19%", "amount": "€4.75"},
        "amount_payable": "€1,234.56",
        "tax_note": "",
        "charged_automatically": False,
        "is_mci": mci,
        "summary_rows": [
            ("starting_balance", "Starting Balance", "€500.00"),
            ("total_added_funds", "Total Added Funds", "€1,000.00"),
            ("total_usage", "Total Usage", "−€1,234.56"),
            ("total_refunds", "Total Refunds", "€0.00"),
            ("ending_balance", "Ending Balance", "€265.44"),
            ("usage_reconciliation", "Usage Reconciliation", "€0.00"),
        ],
        "usage_rows": [
            {
                "waba_id": "104857600123456",
                "phone_number": f"+49151234567{n % 100:02d}",
                "category": "Marketing",
                "market": "Germany",
                "messages": "1,234",
                "cost": "€24.69",
            }
            for n in range(usage_rows)
        ],
    }


def render(ctx: dict) -> bytes:
    from django.template.loader import render_to_string
    from django.utils import translation

    from billing.pdf import invoice_html_pdf, page_labels

    with translation.override("en"):
        html = render_to_string("pdf/invoice.html", ctx)
        labels = page_labels()
    return invoice_html_pdf(html=html, labels=labels, number=ctx["number"])


def floor_render(_ctx: dict) -> bytes:
    from billing.pdf import invoice_html_pdf

    return invoice_html_pdf(html="<html><body><p>Invoice</p></body></html>", labels=("Page %(page)s of ", ""),
                            number="FLOOR")  # fmt: skip


def measure(ctx: dict, n: int, work=None) -> tuple[float, float]:
    work = work or render
    work(ctx)  # warm: templates, fonts, parsed styles
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        work(ctx)
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def worker(n: int) -> int:
    setup()
    ctx = context(usage_rows=50, mci=True)
    for _ in range(n):
        render(ctx)
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20, help="renders per figure")
    parser.add_argument("--month", type=int, default=10_000, help="MCIs in the month")
    args = parser.parse_args()
    setup()
    cpus = {}
    for label, ctx, target, work in (
        ("xhtml2pdf floor (one <p>)", {}, None, floor_render),
        ("MCI, no usage rows", context(usage_rows=0, mci=True), None, None),
        ("MCI, 50 usage rows", context(usage_rows=50, mci=True), 100, None),
        ("License Invoice, one line", context(usage_rows=0, mci=False), 30, None),
    ):
        wall, cpus[label] = measure(ctx, args.n, work)
        print(
            f"{label:28} {1 / wall:6.1f} PDFs/s  wall {wall * 1000:6.1f} ms  cpu {cpus[label] * 1000:6.1f} ms"
            + (f"  (target ≤ {target} ms)" if target else "")
        )
    row = (cpus["MCI, 50 usage rows"] - cpus["MCI, no usage rows"]) / 50
    print(f"one usage row (6 cells): {row * 1000:.2f} ms cpu; "
          f"MCI/floor {cpus['MCI, 50 usage rows'] / cpus['xhtml2pdf floor (one <p>)']:.1f}x, "
          f"License/floor {cpus['License Invoice, one line'] / cpus['xhtml2pdf floor (one <p>)']:.1f}x")  # fmt: skip
    # 2 worker processes (xhtml2pdf holds a process-wide render lock: threads do not add throughput)
    per_worker = args.n
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        done = sum(pool.map(worker, [per_worker, per_worker]))
    elapsed = time.perf_counter() - start
    # the pool's start-up (Django set-up, warm render) is inside `elapsed`: the month figure is pessimistic
    rate = done / elapsed
    print(
        f"2 workers: {rate:.1f} MCI PDFs/s → {args.month:,} MCIs in {args.month / rate / 60:.1f} min"
        f" (incl. worker start-up)"
    )


if __name__ == "__main__":
    main()
