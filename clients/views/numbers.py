"""PLACEHOLDER: being written."""

from django.http import Http404


def number_list(request, *args, **kwargs):
    raise Http404


def number_onboard(request, *args, **kwargs):
    raise Http404


def number_delete(request, *args, **kwargs):
    raise Http404

