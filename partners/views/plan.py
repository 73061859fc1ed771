"""PLACEHOLDER: being written."""

from django.http import Http404


def plan(request, *args, **kwargs):
    raise Http404

