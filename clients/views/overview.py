"""PLACEHOLDER: being written."""

from django.http import Http404


def overview(request, *args, **kwargs):
    raise Http404

