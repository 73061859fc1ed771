"""PLACEHOLDER: being written."""

from django.http import Http404


def client_list(request, *args, **kwargs):
    raise Http404


def client_detail(request, *args, **kwargs):
    raise Http404

