"""PLACEHOLDER: being written."""

from django.http import Http404


def funds(request, *args, **kwargs):
    raise Http404


def funds_add(request, *args, **kwargs):
    raise Http404


def auto_renewal(request, *args, **kwargs):
    raise Http404


def monthly_prepayment(request, *args, **kwargs):
    raise Http404

