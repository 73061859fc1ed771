"""PLACEHOLDER: being written."""

from django.http import Http404


def invoice_pay(request, *args, **kwargs):
    raise Http404


def payment_status(request, *args, **kwargs):
    raise Http404


def payment_methods(request, *args, **kwargs):
    raise Http404


def card_add(request, *args, **kwargs):
    raise Http404


def card_added(request, *args, **kwargs):
    raise Http404


def voucher_method_add(request, *args, **kwargs):
    raise Http404


def methods_reorder(request, *args, **kwargs):
    raise Http404


def method_remove(request, *args, **kwargs):
    raise Http404
