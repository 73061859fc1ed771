"""PLACEHOLDER: being written."""

from django.http import Http404


def invoice_list(request, *args, **kwargs):
    raise Http404


def invoice_detail(request, *args, **kwargs):
    raise Http404


def invoice_pdf(request, *args, **kwargs):
    raise Http404

